import { afterAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../../agent/actions/exec.js';

const node = process.execPath;
const limits = { timeoutMs: 10_000, maxOutputBytes: 65_536 };
const groups: number[] = [];

/** True while any process of the group lives. */
const groupAlive = (pgid: number) => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
};

afterAll(() => {
  for (const pgid of groups)
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* already gone */
    }
});

describe('runCommand', () => {
  it('captures stdout, stderr and the exit code', async () => {
    const r = await runCommand([node, '-e', 'console.log("out"); console.error("err"); process.exit(3)'], limits);
    expect(r).toMatchObject({ exitCode: 3, signal: null, stdout: 'out\n', stderr: 'err\n', truncated: false, timedOut: false });
    expect(r.spawnError).toBeUndefined();
    expect(r.durationMs).toBeGreaterThan(0);
  });

  it('passes arguments as they are, with no shell to split or expand them', async () => {
    const r = await runCommand([node, '-e', 'console.log(JSON.stringify(process.argv.slice(1)))', 'a b', '$HOME', '; rm -rf /'], limits);
    expect(JSON.parse(r.stdout)).toEqual(['a b', '$HOME', '; rm -rf /']);
  });

  it('caps the output, marks it truncated and still lets the command finish', async () => {
    const r = await runCommand([node, '-e', 'process.stdout.write("x".repeat(1_000_000)); console.error("done")'], { ...limits, maxOutputBytes: 1000 });
    expect(r.stdout).toBe('x'.repeat(1000));
    expect(r.stderr).toBe('done\n');
    expect(r.truncated).toBe(true);
    expect(r.exitCode).toBe(0);
  });

  it('stops a command at its timeout', async () => {
    const r = await runCommand(['sleep', '600'], { ...limits, timeoutMs: 200 });
    // Killed, not finished: a timeout, by the first signal.
    expect(r).toMatchObject({ timedOut: true, exitCode: null, signal: 'SIGTERM' });
  });

  it('kills a command that ignores SIGTERM after the grace period', async () => {
    // SIGTERM is ignored from exec on (env --ignore-signal), not from a handler the command
    // installs once it runs: on a loaded machine the timeout could come before the handler.
    const r = await runCommand(['env', '--ignore-signal=TERM', 'sleep', '600'], { ...limits, timeoutMs: 300, killGraceMs: 300 });
    expect(r).toMatchObject({ timedOut: true, exitCode: null, signal: 'SIGKILL' });
  });

  it('returns soon after the command exits even if a daemon it started holds the pipes', async () => {
    // A fixed test argv: sh leaves `sleep` running in the background with our stdout and stderr.
    const r = await runCommand(['sh', '-c', 'sleep 600 & echo started'], limits);
    if (r.pid) groups.push(r.pid);
    expect(r).toMatchObject({ exitCode: 0, stdout: 'started\n', timedOut: false });
    // It returned while the daemon still holds the pipes: waiting for them would take 600 s.
    expect(groupAlive(r.pid!)).toBe(true);
  });

  it('reports a command that does not exist without throwing', async () => {
    const r = await runCommand(['/surely/not/a/command'], limits);
    expect(r.exitCode).toBeNull();
    expect(r.spawnError).toMatch(/ENOENT/);
    expect(await runCommand([], limits)).toMatchObject({ spawnError: 'empty argument vector' });
  });
});
