import { describe, expect, it } from 'vitest';
import { ACTION_HANDLERS, runInstruction } from '../../../agent/actions/index.js';
import { parseAgentConfig } from '../../../agent/config.js';
import { ACTION_NAMES, ERROR_CODES, MAX_FRAME_BYTES, check, encode, resultBody, silentLogger, type Result, type Run } from '../../../protocol/index.js';

const node = process.execPath;
const config = parseAgentConfig(
  {
    controller: 'ws://127.0.0.1:7070',
    token: 't',
    services: [
      { name: 'demo', probe: { tcp: '127.0.0.1:1' }, restart: [node, '-e', 'console.log("restarted " + process.argv[1])', 'demo'] },
      { name: 'nginx', probe: { systemd: 'nginx' } },
      { name: 'plain', probe: { process: 'plain' } },
    ],
    scripts: {
      hello: [node, '-e', 'console.log(1)'],
      fail: [node, '-e', 'console.error("no"); process.exit(2)'],
      slow: ['sleep', '10'],
      missing: ['/surely/not/a/command'],
    },
    // Generous, so a node script started on a loaded machine is not cut short; the one test of the
    // timeout itself runs with a short one (below).
    actionTimeout: '30s',
  },
  'agent.json',
);
const ctx = { config, log: silentLogger };
const shortCtx = { config: { ...config, actionTimeoutMs: 300 }, log: silentLogger };

const T0 = 1_700_000_000_000;
function run(action: string, params: Record<string, unknown>, extra: Partial<Run> = {}): Run {
  return { id: 'r1', host: 'h', action, params, timeoutMs: 60_000, deadline: Date.now() + 60_000, ...extra };
}

/** Every result, whatever happened, must be a valid wire message. */
async function instruct(r: Run, now?: () => number, context = ctx): Promise<Result> {
  const result = await runInstruction(r, context, now);
  expect(check(resultBody, result)).toMatchObject({ ok: true });
  expect(result).toMatchObject({ id: r.id, action: r.action });
  return result;
}

describe('runInstruction', () => {
  it('has a handler for every action in the catalogue, and no other', () => {
    expect(Object.keys(ACTION_HANDLERS).sort()).toEqual([...ACTION_NAMES].sort());
  });

  it('runs a configured script', async () => {
    const r = await instruct(run('script.run', { name: 'hello' }));
    expect(r).toMatchObject({ outcome: 'succeeded', exitCode: 0, signal: null, stdout: '1\n', stderr: '', truncated: false });
    expect(r.error).toBeUndefined();
  });

  it('reports a script that exits non-zero as failed, with its output', async () => {
    expect(await instruct(run('script.run', { name: 'fail' }))).toMatchObject({ outcome: 'failed', exitCode: 2, stderr: 'no\n' });
  });

  it("holds a run to the agent's own timeout when the instruction allows longer", async () => {
    const started = Date.now();
    expect(await instruct(run('script.run', { name: 'slow' }, { timeoutMs: 60_000 }), undefined, shortCtx)).toMatchObject({
      outcome: 'timed-out',
      exitCode: null,
    });
    // Stopped by the agent's 300 ms, long before the instruction's 60 s or the script's own 10 s.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('reports a command that cannot start as failed with a stable code', async () => {
    const r = await instruct(run('script.run', { name: 'missing' }));
    expect(r).toMatchObject({ outcome: 'failed', exitCode: null, error: { code: 'ACTION_SPAWN_FAILED' } });
    expect(r.error!.message).toMatch(/ENOENT/);
  });

  it('restarts a configured service with its restart command', async () => {
    expect(await instruct(run('service.restart', { service: 'demo' }))).toMatchObject({ outcome: 'succeeded', stdout: 'restarted demo\n' });
  });

  const refusals: [string, Run, string, string][] = [
    ['an unknown action', run('disk.wipe', {}), 'ACTION_UNKNOWN', 'unknown action "disk.wipe"'],
    ['an inherited property name', run('toString', {}), 'ACTION_UNKNOWN', 'unknown action "toString"'],
    ['a missing param', run('script.run', {}), 'ACTION_BAD_PARAMS', 'bad params for script.run: /params/name:'],
    ['an unknown param', run('script.run', { name: 'hello', argv: ['rm'] }), 'ACTION_BAD_PARAMS', '/params: unknown field "argv"'],
    ['a param of the wrong type', run('service.restart', { service: 7 }), 'ACTION_BAD_PARAMS', '/params/service:'],
    ['a passed deadline', run('script.run', { name: 'hello' }, { deadline: Date.now() - 1000 }), 'ACTION_DEADLINE_PASSED', 'after its deadline'],
    ['a script not in the config', run('script.run', { name: 'rm-rf' }), 'ACTION_NOT_ALLOWED', 'script "rm-rf" is not in this agent\'s config'],
    [
      'a script named like an object property',
      run('script.run', { name: 'constructor' }),
      'ACTION_NOT_ALLOWED',
      'script "constructor" is not in this agent\'s config',
    ],
    ['a service not in the config', run('service.restart', { service: 'sshd' }), 'ACTION_NOT_ALLOWED', 'service "sshd" is not in this agent\'s config'],
    ['a service with no way to restart', run('service.restart', { service: 'plain' }), 'ACTION_NOT_ALLOWED', 'service "plain" has no restart command'],
  ];
  it.each(refusals)('refuses %s', async (_, r, code, message) => {
    const result = await instruct(r);
    expect(result).toMatchObject({ outcome: 'refused', exitCode: null, stdout: '', stderr: '', error: { code } });
    expect(result.error!.message).toContain(message);
    expect(Object.hasOwn(ERROR_CODES, code)).toBe(true);
  });

  it('restarts a systemd-probed service through systemctl', async () => {
    // systemctl is absent or cannot restart here; what matters is that it was tried, not refused.
    const r = await instruct(run('service.restart', { service: 'nginx' }));
    expect(['failed', 'timed-out', 'succeeded']).toContain(r.outcome);
  });

  it('stamps the result with the injected clock', async () => {
    let t = T0;
    // A deadline equal to the start is still in time.
    const r = await instruct(run('script.run', { name: 'hello' }, { deadline: T0 + 10 }), () => (t += 10));
    expect(r).toMatchObject({ outcome: 'succeeded', startedAt: T0 + 10, durationMs: 10 });
    const late = await instruct(run('script.run', { name: 'hello' }, { deadline: T0 }), () => T0 + 1);
    expect(late).toMatchObject({ outcome: 'refused', startedAt: T0 + 1, error: { code: 'ACTION_DEADLINE_PASSED' } });
  });

  it('trims output that would not fit one link frame once JSON-escaped', async () => {
    const noisy = parseAgentConfig(
      {
        controller: 'ws://127.0.0.1:7070',
        token: 't',
        maxOutputBytes: 262_144,
        // Control bytes take six characters each in JSON: 2 x 256 KiB of them would be 3 MiB.
        scripts: { noisy: [node, '-e', 'const b = Buffer.alloc(300000, 1); process.stdout.write(b); process.stderr.write(b)'] },
      },
      'agent.json',
    );
    const r = await runInstruction(run('script.run', { name: 'noisy' }), { config: noisy, log: silentLogger });
    expect(r).toMatchObject({ outcome: 'succeeded', truncated: true });
    expect(r.stdout.length).toBeGreaterThan(10_000);
    expect(Buffer.byteLength(encode('result', r))).toBeLessThanOrEqual(MAX_FRAME_BYTES);
  });
});
