import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAgentConfig, parseAgentConfig } from '../../../agent/config.js';
import { LaasError } from '../../../protocol/index.js';

const base = { controller: 'ws://127.0.0.1:7070', token: 'secret' };
const svc = (extra: Record<string, unknown> = {}) => ({ name: 'demo', probe: { tcp: '127.0.0.1:18080' }, ...extra });

function errorOf(value: unknown): LaasError {
  try {
    parseAgentConfig(value, 'agent.json');
  } catch (e) {
    expect(e).toBeInstanceOf(LaasError);
    return e as LaasError;
  }
  throw new Error('expected the config to be rejected');
}

describe('agent config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'laas-agent-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fills every default and resolves durations to milliseconds', () => {
    const c = parseAgentConfig({ ...base, services: [svc()] }, 'agent.json');
    expect(c).toEqual({
      controller: 'ws://127.0.0.1:7070',
      controllers: ['ws://127.0.0.1:7070'],
      token: 'secret',
      id: hostname(),
      labels: {},
      intervalMs: 10_000,
      services: [{ name: 'demo', probe: { kind: 'tcp', target: '127.0.0.1:18080' }, probeIntervalMs: 1000, probeTimeoutMs: 1000 }],
      scripts: {},
      cleanupRoots: [],
      credentialFile: 'credential.json',
      maxOutputBytes: 65_536,
      reconnect: { minMs: 250, maxMs: 15_000 },
      outboxLimit: 1000,
      sampleBufferLimit: 60,
      idleTimeoutMs: 45_000,
      passEnv: [],
      secretEnv: [],
      sources: { checks: [], scrape: [], logs: [], certs: [], pings: [], dns: [] },
    });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.services[0].probe)).toBe(true);
  });

  it('reads the documented example with every probe kind and a secret from the environment', () => {
    process.env.LAAS_TEST_AGENT_TOKEN = 'from-env';
    try {
      const c = parseAgentConfig(
        {
          controller: 'wss://laas.example:7070',
          token: { env: 'LAAS_TEST_AGENT_TOKEN' },
          id: 'web-1',
          labels: { role: 'web', env: 'prod' },
          interval: '250ms',
          services: [
            svc({ probeInterval: '100ms', probeTimeout: '50ms', restart: ['/usr/bin/systemctl', 'restart', 'demo'] }),
            { name: 'api', probe: { http: 'https://127.0.0.1/healthz' } },
            { name: 'nginx', probe: { systemd: 'nginx.service' } },
            { name: 'cron', probe: { process: 'cron' } },
            { name: 'db', probe: { pidfile: '/run/db.pid' } },
            { name: 'held', probe: { tcp: '127.0.0.1:5432', hold: true } },
          ],
          scripts: { 'flush-cache': ['/usr/local/bin/flush-cache', '--all'] },
          actionTimeout: '30s',
          maxOutputBytes: 1024,
          reconnect: { min: '100ms', max: '5s' },
          outboxLimit: 10,
        },
        'agent.json',
      );
      expect(c.token).toBe('from-env');
      expect(c.intervalMs).toBe(250);
      expect(c.services.map((s) => [s.probe.kind, s.probe.target])).toEqual([
        ['tcp', '127.0.0.1:18080'],
        ['http', 'https://127.0.0.1/healthz'],
        ['systemd', 'nginx.service'],
        ['process', 'cron'],
        ['pidfile', '/run/db.pid'],
        ['tcp', '127.0.0.1:5432'],
      ]);
      expect(c.services[5].probe).toEqual({ kind: 'tcp', target: '127.0.0.1:5432', hold: true });
      expect(c.services[0].probe.hold).toBeUndefined();
      expect(c.services[0]).toMatchObject({ probeIntervalMs: 100, probeTimeoutMs: 50, restart: ['/usr/bin/systemctl', 'restart', 'demo'] });
      expect(c.scripts).toEqual({ 'flush-cache': ['/usr/local/bin/flush-cache', '--all'] });
      expect(c).toMatchObject({
        id: 'web-1',
        labels: { role: 'web', env: 'prod' },
        actionTimeoutMs: 30_000,
        maxOutputBytes: 1024,
        reconnect: { minMs: 100, maxMs: 5000 },
        outboxLimit: 10,
      });
    } finally {
      delete process.env.LAAS_TEST_AGENT_TOKEN;
    }
  });

  // Each bad config with the exact error a user sees: the file, the JSON pointer, the fault.
  const bad: [string, unknown, string][] = [
    ['unknown top-level field', { ...base, intervall: '5s' }, 'agent.json /: unknown field "intervall"'],
    ['no token', { controller: base.controller }, 'agent.json /token: required: the token this agent presents to the controller'],
    ['token of the wrong type', { ...base, token: 42 }, 'agent.json /token: expected a token string, {"env": "VAR"} or {"file": "/path"}'],
    [
      'http controller URL',
      { ...base, controller: 'http://127.0.0.1:7070' },
      'agent.json /controller: expected a ws:// or wss:// URL, e.g. "ws://127.0.0.1:7070"',
    ],
    ['controller not a URL', { ...base, controller: '127.0.0.1:7070' }, 'agent.json /controller: expected a ws:// or wss:// URL'],
    ['malformed duration', { ...base, interval: '10 seconds' }, 'agent.json /interval: expected a duration like "10s", "5m" or "7d", got "10 seconds"'],
    ['duration as a number', { ...base, interval: 10 }, 'agent.json /interval: expected a duration like "10s", "5m" or "7d", got 10'],
    ['interval too short', { ...base, interval: '10ms' }, 'agent.json /interval: must be at least 100ms'],
    ['label value not a string', { ...base, labels: { role: 1 } }, 'agent.json /labels/role:'],
    [
      'probe of no kind',
      { ...base, services: [svc({ probe: {} })] },
      'agent.json /services/0/probe: expected exactly one of tcp, http, systemd, process, pidfile',
    ],
    [
      'probe of two kinds',
      { ...base, services: [svc({ probe: { tcp: 'a:1', process: 'a' } })] },
      'agent.json /services/0/probe: expected exactly one of tcp, http, systemd, process, pidfile, got tcp and process',
    ],
    [
      'hold on a probe that is not tcp',
      { ...base, services: [svc({ probe: { http: 'http://127.0.0.1/', hold: true } })] },
      'agent.json /services/0/probe/hold: "hold" applies only to a tcp probe, not to http',
    ],
    [
      'watch on a tcp probe (it holds its connection with "hold")',
      { ...base, services: [svc({ probe: { tcp: '127.0.0.1:1', watch: true } })] },
      'agent.json /services/0/probe/watch: "watch" applies only to a process, pidfile, systemd or http probe, not to tcp',
    ],
    [
      'hold that is not a boolean',
      { ...base, services: [svc({ probe: { tcp: '127.0.0.1:1', hold: 'yes' } })] },
      'agent.json /services/0/probe/hold: expected true or false',
    ],
    [
      'relative pid file',
      { ...base, services: [svc({ probe: { pidfile: 'run/x.pid' } })] },
      'agent.json /services/0/probe/pidfile: expected an absolute path to a pid file like "/run/nginx.pid"',
    ],
    ['probe interval under 100ms', { ...base, services: [svc({ probeInterval: '50ms' })] }, 'agent.json /services/0/probeInterval: must be at least 100ms'],
    ['unknown probe kind', { ...base, services: [svc({ probe: { ping: 'a' } })] }, 'agent.json /services/0/probe: unknown field "ping"'],
    [
      'tcp target without port',
      { ...base, services: [svc({ probe: { tcp: 'localhost' } })] },
      'agent.json /services/0/probe/tcp: expected "host:port" with a port 1-65535',
    ],
    [
      'tcp port out of range',
      { ...base, services: [svc({ probe: { tcp: 'localhost:70000' } })] },
      'agent.json /services/0/probe/tcp: expected "host:port" with a port 1-65535',
    ],
    [
      'http probe with ftp URL',
      { ...base, services: [svc({ probe: { http: 'ftp://x/' } })] },
      'agent.json /services/0/probe/http: expected an http:// or https:// URL',
    ],
    [
      'systemd unit that looks like an option',
      { ...base, services: [svc({ probe: { systemd: '--all' } })] },
      'agent.json /services/0/probe/systemd: expected a systemd unit name',
    ],
    [
      'process name with a slash',
      { ...base, services: [svc({ probe: { process: '/usr/bin/x' } })] },
      'agent.json /services/0/probe/process: expected a process name without "/"',
    ],
    [
      'duplicate service name',
      { ...base, services: [svc(), { name: 'x', probe: { tcp: 'a:1' } }, svc()] },
      'agent.json /services/2/name: duplicate service name "demo" (first at /services/0)',
    ],
    [
      'restart as a shell string',
      { ...base, services: [svc({ restart: 'systemctl restart demo' })] },
      'agent.json /services/0/restart: expected an argument vector like ["/usr/bin/cmd", "--flag"]',
    ],
    ['empty restart argv', { ...base, services: [svc({ restart: [] })] }, 'agent.json /services/0/restart: expected an argument vector'],
    ['unknown service field', { ...base, services: [svc({ restartCmd: ['x'] })] }, 'agent.json /services/0: unknown field "restartCmd"'],
    ['empty script argv', { ...base, scripts: { flush: [] } }, 'agent.json /scripts/flush: expected an argument vector'],
    ['script argv with an empty command', { ...base, scripts: { flush: [''] } }, 'agent.json /scripts/flush/0: must not be empty'],
    ['fractional output cap', { ...base, maxOutputBytes: 10.5 }, 'agent.json /maxOutputBytes: expected a whole number of bytes'],
    ['output cap beyond a frame', { ...base, maxOutputBytes: 10_000_000 }, 'agent.json /maxOutputBytes:'],
    ['reconnect min above max', { ...base, reconnect: { min: '20s', max: '1s' } }, 'agent.json /reconnect/min: min must not exceed max'],
    ['unknown reconnect field', { ...base, reconnect: { jitter: true } }, 'agent.json /reconnect: unknown field "jitter"'],
    [
      'passEnv naming a LAAS_ variable',
      { ...base, passEnv: ['HTTP_PROXY', 'LAAS_TOKEN'] },
      'agent.json /passEnv/1: LAAS_TOKEN: LAAS_* variables are never passed',
    ],
    [
      "passEnv naming the token's variable",
      { ...base, token: { env: 'AGENT_SECRET' }, passEnv: ['AGENT_SECRET'] },
      'agent.json /passEnv/0: AGENT_SECRET holds a secret of this config',
    ],
    ['passEnv not a variable name', { ...base, passEnv: ['A=B'] }, 'agent.json /passEnv/0: expected an environment variable name'],
  ];
  it.each(bad)('rejects %s', (_, value, expected) => {
    const e = errorOf(value);
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toContain(expected);
  });

  describe('the pinned signing key', () => {
    const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }) as string;
    const key = pem(generateKeyPairSync('ed25519').publicKey);
    const other = pem(generateKeyPairSync('ed25519').publicKey);

    it('is "signingKey", with "controllerKey" still accepted as its older name', () => {
      expect(parseAgentConfig({ ...base, signingKey: key }, 'agent.json').signingKey).toBe(key);
      expect(parseAgentConfig({ ...base, controllerKey: key }, 'agent.json').signingKey).toBe(key);
      expect(parseAgentConfig({ ...base, signingKey: key, controllerKey: key }, 'agent.json').signingKey).toBe(key);
      expect(parseAgentConfig(base, 'agent.json').signingKey).toBeUndefined();
    });

    it('may come from a file', () => {
      const file = join(dir, 'signing-key.pem');
      writeFileSync(file, key);
      expect(parseAgentConfig({ ...base, signingKey: { file } }, 'agent.json').signingKey).toBe(key.trim());
    });

    it('refuses two different keys under both names, and anything but an Ed25519 public key', () => {
      expect(errorOf({ ...base, signingKey: key, controllerKey: other }).message).toBe(
        'agent.json /controllerKey: "signingKey" and its older name "controllerKey" name different keys; keep only "signingKey"',
      );
      const rsa = pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey);
      expect(errorOf({ ...base, signingKey: rsa }).message).toContain("agent.json /signingKey: expected the controller's Ed25519 public key in PEM");
      expect(errorOf({ ...base, controllerKey: 'not a key' })).toMatchObject({
        code: 'CONFIG_INVALID',
        message: expect.stringContaining("agent.json /controllerKey: expected the controller's Ed25519 public key"),
      });
    });
  });

  it('takes a list of controllers sharing one database; a bad one is named by its index', () => {
    const c = parseAgentConfig({ ...base, controller: ['ws://a:7070', 'wss://b:7070', 'ws://a:7070'] }, 'agent.json');
    expect(c.controllers).toEqual(['ws://a:7070', 'wss://b:7070']);
    expect(c.controller).toBe('ws://a:7070');
    expect(() => parseAgentConfig({ ...base, controller: ['ws://a:7070', 'http://b'] }, 'agent.json')).toThrow(/agent\.json \/controller/);
    expect(() => parseAgentConfig({ ...base, controller: [] }, 'agent.json')).toThrow(/at least one controller URL/);
  });

  it('reports every fault at once', () => {
    const e = errorOf({ controller: 'http://x', token: 't', interval: 'x', bogus: 1 });
    expect(e.message.split('\n')).toHaveLength(3);
  });

  it('names the unresolved secret', () => {
    const e = errorOf({ ...base, token: { env: 'LAAS_TEST_SURELY_UNSET' } });
    expect(e.code).toBe('CONFIG_SECRET_UNRESOLVED');
    expect(e.message).toBe('agent.json /token: environment variable LAAS_TEST_SURELY_UNSET is not set');
  });

  it('loads a file and reports syntax errors with line and column', () => {
    const good = join(dir, 'agent.json');
    writeFileSync(good, JSON.stringify({ ...base, id: 'from-file' }));
    expect(loadAgentConfig(good).id).toBe('from-file');
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{\n  "controller": "ws://x",\n}');
    expect(() => loadAgentConfig(broken)).toThrow(/broken\.json:3:1: not valid JSON/);
    expect(() => loadAgentConfig(join(dir, 'missing.json'))).toThrow(/missing\.json: cannot read/);
  });
});
