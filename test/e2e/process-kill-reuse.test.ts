import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { onPath } from '../helpers/procs.js';

const IS_ROOT = process.getuid?.() === 0;

/**
 * A real pid reuse, made on purpose: in a pid namespace of its own (unshare, as root), a process
 * is started and its start time noted, as process.kill does when it picks a victim; it dies; the
 * namespace's next pid is set back (ns_last_pid) so a new, innocent process gets the same pid.
 * The built agent code must then refuse to signal that pid, and still signal the right process.
 */
const SCRIPT = `
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
const { signalIfSame, startTimeOf } = await import(process.argv[1]);
const started = (c) => new Promise((r, j) => { c.once('spawn', r); c.once('error', j); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const victim = spawn('sleep', ['30'], { stdio: 'ignore' });
await started(victim);
const pid = victim.pid;
const seen = await startTimeOf(pid);
victim.kill('SIGKILL');
await new Promise((r) => victim.once('exit', r));
await sleep(100); // a later clock tick: start times are counted in ticks
writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
const innocent = spawn('sleep', ['30'], { stdio: 'ignore' });
await started(innocent);
const out = { pid, reused: innocent.pid === pid, seen, now: await startTimeOf(pid) };
out.verdict = await signalIfSame(pid, seen, 'SIGTERM') ?? 'signalled';
await sleep(200);
out.innocentAlive = innocent.exitCode === null && innocent.signalCode === null;
out.control = await signalIfSame(innocent.pid, await startTimeOf(innocent.pid), 'SIGTERM') ?? 'signalled';
const how = await new Promise((r) => { if (innocent.signalCode) r(innocent.signalCode); else innocent.once('exit', (_c, s) => r(s)); });
out.controlSignal = how;
process.stdout.write(JSON.stringify(out));
`;

describe('process.kill and a reused pid', () => {
  it('does not signal a pid that now belongs to another process, and does signal the process it meant', (t) => {
    if (!IS_ROOT || !onPath('unshare')) {
      if (process.env.CI) throw new Error('this test needs root and unshare (util-linux), as CI has');
      t.skip();
      return;
    }
    const module = pathToFileURL(resolve('dist/agent/actions/process-kill.js')).href;
    const r = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, '--input-type=module', '-e', SCRIPT, module], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      reused: boolean;
      seen: string;
      now: string;
      verdict: string;
      innocentAlive: boolean;
      control: string;
      controlSignal: string;
    };
    // The setup worked: the same pid, another process (a later start time).
    expect(out.reused).toBe(true);
    expect(out.now).not.toBe(out.seen);
    expect(out.verdict).toBe('REUSED');
    expect(out.innocentAlive).toBe(true);
    expect([out.control, out.controlSignal]).toEqual(['signalled', 'SIGTERM']);
  });
});
