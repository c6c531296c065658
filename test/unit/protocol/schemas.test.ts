import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../../agent/config.js';
import { ACTIONS, LaasError, MAX_HELLO_BYTES, PROTOCOL_VERSION, check, decode, pointerIssues, type ActionName } from '../../../protocol/index.js';

/**
 * The schemas' contract, as a table: what each accepts, and for what it refuses the JSON pointer
 * of the first fault and its text. It pins the semantics the wire and the agent config have
 * always had (strict objects, arrays not objects, finite and safe whole numbers, max lengths,
 * enums, nullable, records and their keys, defaults, durations), whichever library checks them.
 */

const hello = {
  agentId: 'web-1',
  agentVersion: '0.1.0',
  hostname: 'web-1',
  labels: { role: 'web' },
  os: { platform: 'linux', release: '6.1' },
  intervalMs: 10_000,
  services: ['demo'],
  actions: ['service.restart'],
  scripts: [],
};
const sample = {
  seq: 1,
  ts: 1_700_000_000_000,
  trigger: 'interval',
  cpu: { usage: 1, load1: 0.1, load5: 0.2, load15: 0.3 },
  disk: { '/var/log': { usedPercent: 40, freeBytes: 1e9, totalBytes: 2e9 } },
  service: { demo: { up: true, since: 1 } },
};
const result = {
  id: 'r1',
  action: 'service.restart',
  outcome: 'succeeded',
  exitCode: 0,
  signal: null,
  stdout: '',
  stderr: '',
  truncated: false,
  startedAt: 1,
  durationMs: 3,
};
const run = { id: 'r1', host: 'web-1', action: 'service.restart', params: { service: 'demo' }, timeoutMs: 1000, deadline: 2e12 };

/** A frame as raw text, so values JSON can carry but JS literals hide (1e999) are tested too. */
const frame = (type: string, body: unknown, raw?: [string, string]) => {
  const text = JSON.stringify({ v: PROTOCOL_VERSION, type, body });
  return raw ? text.replace(raw[0], raw[1]) : text;
};

/** "ok", or the first fault's "pointer: message" as decode reports it (after "FRAME_BAD_BODY type "). */
function frameOutcome(text: string): string {
  try {
    decode(text);
    return 'ok';
  } catch (e) {
    expect(e).toBeInstanceOf(LaasError);
    expect((e as LaasError).code).toBe('FRAME_BAD_BODY');
    return (e as LaasError).message.replace(/^\w+ /, '');
  }
}

describe("wire frames: accept or refuse, and the first fault's pointer", () => {
  const table: [string, string, string][] = [
    ['a full hello', frame('hello', hello), 'ok'],
    ['hello with an unknown field', frame('hello', { ...hello, shell: 'x', zz: 1 }), '/body: unknown fields "shell", "zz"'],
    ['hello with labels as an array', frame('hello', { ...hello, labels: [] }), '/body/labels: expected object, got an array'],
    ['hello with os as an empty array (not an object)', frame('hello', { ...hello, os: [] }), '/body/os: expected object, got an array'],
    ['hello without agentId', frame('hello', { ...hello, agentId: undefined }), '/body/agentId: required, expected string'],
    ['hello with an empty agentId', frame('hello', { ...hello, agentId: '' }), '/body/agentId: must not be empty'],
    [
      'hello with a label key over 100 characters',
      frame('hello', { ...hello, labels: { ['k'.repeat(101)]: 'v' } }),
      `/body/labels/${'k'.repeat(101)}: expected at most 100 characters, got 101`,
    ],
    [
      'hello with a label value over 200 characters',
      frame('hello', { ...hello, labels: { k: 'v'.repeat(201) } }),
      '/body/labels/k: expected at most 200 characters, got 201',
    ],
    ['hello with a label named "constructor"', frame('hello', { ...hello, labels: { constructor: 'x' } }), 'ok'],
    ['hello with a zero interval', frame('hello', { ...hello, intervalMs: 0 }), '/body/intervalMs: expected more than 0, got 0'],
    ['hello with a fractional interval', frame('hello', { ...hello, intervalMs: 1.5 }), '/body/intervalMs: expected a whole number, got 1.5'],
    ['hello with an interval beyond 2^53', frame('hello', { ...hello, intervalMs: 2 ** 60 }), `/body/intervalMs: expected a whole number, got ${2 ** 60}`],
    [
      'hello with 1001 services',
      frame('hello', { ...hello, services: Array.from({ length: 1001 }, (_, i) => `s${i}`) }),
      '/body/services: expected at most 1000 items, got 1001',
    ],
    ['a full sample', frame('sample', sample), 'ok'],
    [
      'sample with an unknown trigger',
      frame('sample', { ...sample, trigger: 'cron' }),
      '/body/trigger: expected one of "interval", "service-change", "check-change", "startup", "request", got "cron"',
    ],
    [
      'sample with cpu usage of 1e999 (Infinity)',
      frame('sample', sample, ['"usage":1', '"usage":1e999']),
      '/body/cpu/usage: expected a finite number, got Infinity',
    ],
    ['sample with buffered: false (only true is meaningful)', frame('sample', { ...sample, buffered: false }), '/body/buffered: expected true, got false'],
    [
      'sample with an unknown fact field',
      frame('sample', { ...sample, service: { demo: { up: true, since: 1, pid: 3 } } }),
      '/body/service/demo: unknown field "pid"',
    ],
    [
      'sample with a mount path as key (escaped in the pointer)',
      frame('sample', { ...sample, disk: { '/var/log': { usedPercent: 'x', freeBytes: 1, totalBytes: 1 } } }),
      '/body/disk/~1var~1log/usedPercent: expected number, got "x"',
    ],
    ['a result with exitCode null', frame('result', result), 'ok'],
    ['a result without exitCode', frame('result', { ...result, exitCode: undefined }), '/body/exitCode: required, expected number or null'],
    ['a result with a negative duration', frame('result', { ...result, durationMs: -1 }), '/body/durationMs: expected at least 0, got -1'],
    ['a run', frame('run', run), 'ok'],
    ['a run with params as an array', frame('run', { ...run, params: ['x'] }), '/body/params: expected object, got an array'],
    ['a run with a timeout over an hour', frame('run', { ...run, timeoutMs: 3_600_001 }), '/body/timeoutMs: expected at most 3600000, got 3600001'],
    ['an ack whose body is an array', frame('ack', ['x']), '/body: expected object, got an array'],
    ['an ack whose body is null', frame('ack', null), '/body: expected object, got null'],
    // Ids, names and labels at the edge: nothing PostgreSQL cannot store, nothing a terminal acts on.
    ['hello with NUL in agentId', frame('hello', { ...hello, agentId: 'web\u00001' }), '/body/agentId: must not contain NUL (U+0000 at character 3)'],
    [
      'hello with a newline in agentId',
      frame('hello', { ...hello, agentId: 'web-1\nfake log line' }),
      '/body/agentId: must not contain a control character (U+000A at character 5)',
    ],
    [
      'hello with a C1 control (CSI) in agentId',
      frame('hello', { ...hello, agentId: 'web\u009b1' }),
      '/body/agentId: must not contain a control character (U+009B at character 3)',
    ],
    [
      'hello with a lone surrogate in agentId',
      frame('hello', { ...hello, agentId: 'web\ud8001' }),
      '/body/agentId: must not contain a lone surrogate (not valid Unicode) (U+D800 at character 3)',
    ],
    ['hello with blanks around agentId', frame('hello', { ...hello, agentId: ' web-1' }), '/body/agentId: must not start or end with blanks, got " web-1"'],
    ['hello with a blank-only agentId', frame('hello', { ...hello, agentId: '\u00a0' }), '/body/agentId: must not start or end with blanks, got "\u00a0"'],
    ['hello with a unicode agentId', frame('hello', { ...hello, agentId: 'wéb-1 😀 東京' }), 'ok'],
    [
      'hello with NUL in a label value',
      frame('hello', { ...hello, labels: { role: 'w\u0000eb' } }),
      '/body/labels/role: must not contain NUL (U+0000 at character 1)',
    ],
    [
      'hello with escape in a label value',
      frame('hello', { ...hello, labels: { role: '\u001b[31mweb' } }),
      '/body/labels/role: must not contain a control character (U+001B at character 0)',
    ],
    [
      'hello with a label name with a space',
      frame('hello', { ...hello, labels: { 'my role': 'web' } }),
      '/body/labels/my role: expected a label name: a letter or "_", then letters, digits, "_", "." or "-"',
    ],
    [
      'hello with a label name starting with a digit',
      frame('hello', { ...hello, labels: { '1role': 'web' } }),
      '/body/labels/1role: expected a label name: a letter or "_", then letters, digits, "_", "." or "-"',
    ],
    ['hello with label names with ".", "-" and "_"', frame('hello', { ...hello, labels: { 'team.name': 'a', 'cost-center': 'b', _tier: 'c', env: '' } }), 'ok'],
    ['hello with 64 labels', frame('hello', { ...hello, labels: Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`l${i}`, 'v'])) }), 'ok'],
    [
      'hello with 65 labels',
      frame('hello', { ...hello, labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`l${i}`, 'v'])) }),
      '/body/labels: expected at most 64 labels, got 65',
    ],
    [
      'hello with a tab in a service name',
      frame('hello', { ...hello, services: ['demo', 'de\tmo'] }),
      '/body/services/1: must not contain a control character (U+0009 at character 2)',
    ],
    [
      'hello with DEL in a script name',
      frame('hello', { ...hello, scripts: ['flush\u007f'] }),
      '/body/scripts/0: must not contain a control character (U+007F at character 5)',
    ],
    [
      'hello with a control character in its hostname',
      frame('hello', { ...hello, hostname: 'web\r1' }),
      '/body/hostname: must not contain a control character (U+000D at character 3)',
    ],
    [
      'hello with NUL in os.release',
      frame('hello', { ...hello, os: { platform: 'linux', release: '6.1\u0000' } }),
      '/body/os/release: must not contain NUL (U+0000 at character 3)',
    ],
    [
      'sample with NUL in a service name',
      frame('sample', { ...sample, service: { 'de\u0000mo': { up: true, since: 1 } } }),
      '/body/service/de\u0000mo: must not contain NUL (U+0000 at character 2)',
    ],
    [
      'sample with NUL in a mount path',
      frame('sample', { ...sample, disk: { '/mnt/\u0000': { usedPercent: 1, freeBytes: 1, totalBytes: 1 } } }),
      '/body/disk/~1mnt~1\u0000: must not contain NUL (U+0000 at character 5)',
    ],
    [
      'sample with a newline in a mount path (the kernel allows it)',
      frame('sample', { ...sample, disk: { '/mnt/a\nb': { usedPercent: 1, freeBytes: 1, totalBytes: 1 } } }),
      'ok',
    ],
    ['a result with a newline in its id', frame('result', { ...result, id: 'r1\n' }), '/body/id: must not contain a control character (U+000A at character 2)'],
    [
      'a result with an escape in its error code',
      frame('result', { ...result, error: { code: 'X\u001b', message: 'm' } }),
      '/body/error/code: must not contain a control character (U+001B at character 1)',
    ],
  ];
  it.each(table)('%s', (_name, text, expected) => {
    expect(frameOutcome(text)).toBe(expected);
  });

  it('keeps free text (output, details) whole, except NUL and lone surrogates, which become U+FFFD', () => {
    const raw = 'ok\u0000\tcolour \u001b[31mred\u001b[0m \ud800 😀\n';
    const r = decode(frame('result', { ...result, stdout: raw, stderr: '\\u0000 is text', error: { code: 'ACTION_SPAWN_FAILED', message: 'no\u0000such' } }));
    expect(r.type).toBe('result');
    const body = r.body as { stdout: string; stderr: string; error: { message: string } };
    expect(body.stdout).toBe('ok\ufffd\tcolour \u001b[31mred\u001b[0m \ufffd 😀\n');
    expect(body.stderr).toBe('\\u0000 is text');
    expect(body.error.message).toBe('no\ufffdsuch');
    const s = decode(frame('sample', { ...sample, service: { demo: { up: false, since: 1, detail: 'refused\u0000' } } }));
    expect((s.body as { service: Record<string, { detail: string }> }).service.demo.detail).toBe('refused\ufffd');
  });

  it('refuses a hello over 256 KiB as too large, whatever it holds', () => {
    const big = frame('hello', {
      ...hello,
      services: Array.from({ length: 1000 }, (_, i) => `${'s'.repeat(190)}${i}`),
      scripts: Array.from({ length: 1000 }, (_, i) => `${'x'.repeat(90)}${i}`),
    });
    expect(Buffer.byteLength(big)).toBeGreaterThan(MAX_HELLO_BYTES);
    expect(() => decode(big)).toThrow(
      expect.objectContaining({ code: 'FRAME_TOO_LARGE', message: expect.stringMatching(/^hello of \d+ bytes exceeds 262144/) }),
    );
    // Other messages keep the whole frame (a result may carry two 256 KiB outputs).
    expect(decode(frame('result', { ...result, stdout: 'x'.repeat(300_000) })).type).toBe('result');
  });

  it('keeps a "constructor" label and drops a "__proto__" key without giving the value a prototype', () => {
    const m = decode(frame('hello', hello).replace('"labels":{', '"labels":{"__proto__":{"polluted":1},"constructor":"c",'));
    expect(m.type).toBe('hello');
    const labels = (m.body as { labels: Record<string, string> }).labels;
    expect(Object.keys(labels)).toEqual(['constructor', 'role']);
    expect(Object.getPrototypeOf(labels)).toBe(Object.prototype);
    expect(({} as { polluted?: number }).polluted).toBeUndefined();
  });
});

describe('action params: defaults applied on parse, refusals pointed', () => {
  const table: [ActionName, unknown, string | Record<string, unknown>][] = [
    ['service.restart', { service: 'demo' }, { service: 'demo' }],
    ['service.restart', {}, '/service: required, expected string'],
    ['service.restart', { service: 'demo', svc: 'x' }, '/: unknown field "svc"'],
    ['process.kill', { pid: 1234 }, { pid: 1234, signal: 'SIGTERM' }],
    ['process.kill', { name: 'nginx', signal: 'SIGHUP' }, { name: 'nginx', signal: 'SIGHUP' }],
    ['process.kill', {}, '/: expected exactly one of "name" (a process name) or "pid" (a process id)'],
    ['process.kill', { pid: 5e6 }, '/pid: expected a process id of at most 4194304'],
    ['disk.cleanup', { path: '/var/log', olderThan: '1h30m' }, { path: '/var/log', olderThan: 5_400_000, pattern: '*', dryRun: false, recursive: true }],
    ['disk.cleanup', { path: '/var/log', olderThan: '30s' }, '/olderThan: must be at least "1m": younger files may still be in use'],
    ['disk.cleanup', { path: '/var/log', olderThan: '1 hour' }, '/olderThan: expected a duration like "10s", "5m" or "7d", got "1 hour"'],
    ['disk.cleanup', { path: 'x'.repeat(4097), olderThan: '1h' }, '/path: must be at most 4096 characters'],
    ['disk.cleanup', [], '/: expected object, got an array'],
  ];
  it.each(table)('%s %j', (action, params, expected) => {
    const r = check(ACTIONS[action].params, params);
    if (typeof expected === 'string') {
      expect(r.ok).toBe(false);
      if (!r.ok) expect(`${pointerIssues(r.issues)[0].pointer}: ${pointerIssues(r.issues)[0].message}`).toBe(expected);
    } else {
      expect(r).toEqual({ ok: true, value: expected });
    }
  });
});

describe("agent.json: accept or refuse, and the first fault's pointer", () => {
  const base = { controller: 'ws://127.0.0.1:7070', token: 'secret' };
  const outcome = (value: unknown): string => {
    try {
      parseAgentConfig(value, 'agent.json');
      return 'ok';
    } catch (e) {
      expect(e).toBeInstanceOf(LaasError);
      return (e as LaasError).message.split('\n')[0].replace(/^agent\.json /, '');
    }
  };
  const table: [string, unknown, string][] = [
    ['the smallest config', base, 'ok'],
    ['an array instead of the config object', [base], '/: expected object, got an array'],
    ['two unknown fields, named together', { ...base, intervall: '5s', retries: 3 }, '/: unknown fields "intervall", "retries"'],
    ['a list of controllers', { ...base, controller: ['ws://a:1', 'wss://b:2'] }, 'ok'],
    [
      'a controller that is neither a URL nor a list',
      { ...base, controller: 7070 },
      '/controller: expected a ws:// or wss:// URL, e.g. "ws://127.0.0.1:7070", or a list of them',
    ],
    ['a bad second controller', { ...base, controller: ['ws://a:1', 'http://b'] }, '/controller/1: expected a ws:// or wss:// URL, e.g. "ws://127.0.0.1:7070"'],
    [
      'an http probe without "//"',
      { ...base, services: [{ name: 'a', probe: { http: 'http:example.com' } }] },
      '/services/0/probe/http: expected an http:// or https:// URL',
    ],
    ['reconnect given as an array', { ...base, reconnect: [] }, '/reconnect: expected object, got an array'],
    ['labels with an empty key', { ...base, labels: { '': 'x' } }, '/labels/: must not be empty'],
    // The agent refuses at start what the controller would refuse in its hello.
    ['an id with NUL', { ...base, id: 'web\u00001' }, '/id: must not contain NUL (U+0000 at character 3)'],
    ['an id with blanks around it', { ...base, id: 'web-1 ' }, '/id: must not start or end with blanks, got "web-1 "'],
    ['a label value with a newline', { ...base, labels: { role: 'web\nprod' } }, '/labels/role: must not contain a control character (U+000A at character 3)'],
    [
      'a label name with a space',
      { ...base, labels: { 'my role': 'web' } },
      '/labels/my role: expected a label name: a letter or "_", then letters, digits, "_", "." or "-"',
    ],
    ['65 labels', { ...base, labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`l${i}`, 'v'])) }, '/labels: expected at most 64 labels, got 65'],
    [
      'a service name with an escape',
      { ...base, services: [{ name: 'demo\u001b', probe: { tcp: '127.0.0.1:1' } }] },
      '/services/0/name: must not contain a control character (U+001B at character 4)',
    ],
    ['a script name with NUL', { ...base, scripts: { 'fl\u0000ush': ['/bin/true'] } }, '/scripts/fl\u0000ush: must not contain NUL (U+0000 at character 2)'],
    ['a controllerKey of no known form', { ...base, controllerKey: {} }, '/controllerKey: expected a non-empty string, {"env": "VAR"} or {"file": "/path"}'],
    [
      'more than 1000 scripts',
      { ...base, scripts: Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`s${i}`, ['/bin/true']])) },
      '/scripts: at most 1000 scripts',
    ],
    [
      'the filesystem root as a cleanup root',
      { ...base, cleanupRoots: ['/var/..'] },
      '/cleanupRoots/0: the filesystem root may not be a cleanup root: name the directories to clean',
    ],
    ['an output cap of zero', { ...base, maxOutputBytes: 0 }, '/maxOutputBytes: expected at least 1, got 0'],
    ['an outbox limit as a string', { ...base, outboxLimit: '10' }, '/outboxLimit: expected a whole number'],
    ['a credential file instead of a token', { controller: base.controller, credentialFile: 'cred.json' }, 'ok'],
  ];
  it.each(table)('%s', (_name, value, expected) => {
    expect(outcome(value)).toBe(expected);
  });

  it('applies every default on parse, durations included', () => {
    const c = parseAgentConfig(
      { ...base, controller: ' ws://a:1 ', services: [{ name: 'a', probe: { http: ' http://x/ ' } }], reconnect: { min: '1s' } },
      'agent.json',
    );
    expect(c.controllers).toEqual(['ws://a:1']);
    expect(c.services[0]).toEqual({ name: 'a', probe: { kind: 'http', target: 'http://x/' }, probeIntervalMs: 1000, probeTimeoutMs: 1000 });
    expect(c.reconnect).toEqual({ minMs: 1000, maxMs: 15_000 });
    expect([c.intervalMs, c.idleTimeoutMs, c.outboxLimit, c.sampleBufferLimit, c.maxOutputBytes]).toEqual([10_000, 45_000, 1000, 60, 65_536]);
  });
});
