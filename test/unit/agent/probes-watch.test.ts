import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ServiceConfig } from '../../../agent/config.js';
import { PidWatcher } from '../../../agent/probes/pid-watch.js';
import { ServiceWatcher } from '../../../agent/services.js';
import { silentLogger, type Logger, type ServiceFacts } from '../../../protocol/index.js';
import { onPath } from '../../helpers/procs.js';

/**
 * `process` and `pidfile` probes with `"watch": true` learn of an exit from the kernel (pidfd,
 * through the Perl helper in agent/probes/pid-watch.ts), not from the next probe. Every service
 * here is probed once a minute, so a down state that arrives during a test can only have come
 * from the watch: the assertions are on what happens and in which order, never on a duration.
 */
const linux = process.platform === 'linux';
function noPerl(): string | undefined {
  if (!linux) return 'pidfd is Linux only';
  if (onPath('perl')) return undefined;
  if (process.env.CI) throw new Error('CI: the process exit watcher needs perl (perl-base, Essential on Debian)');
  return 'perl not found';
}
const skip = noPerl();
if (skip) process.stderr.write(`skipping the process exit watcher tests: ${skip}\n`);

const MINUTE = 60_000;
const children: ChildProcess[] = [];
const watchers: ServiceWatcher[] = [];
const dir = mkdtempSync(join(tmpdir(), 'laas-probe-watch-'));
let names = 0;

afterEach(() => {
  for (const w of watchers.splice(0)) w.stop();
  for (const c of children.splice(0)) c.kill('SIGKILL');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms}ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A process (a sleep) under a name nothing else on the machine has, with its pid in a pid file. */
async function service(): Promise<{ child: ChildProcess; name: string; pidfile: string }> {
  const name = `lw${process.pid % 10_000}x${++names}`;
  const bin = join(dir, name);
  symlinkSync(onPath('sleep')!, bin);
  const child = spawn(bin, ['300'], { stdio: 'ignore' });
  children.push(child);
  await new Promise((r, j) => {
    child.once('spawn', r);
    child.once('error', j);
  });
  const pidfile = join(dir, `${name}.pid`);
  writeFileSync(pidfile, `${child.pid}\n`);
  return { child, name, pidfile };
}

function watch(services: ServiceConfig[], opts: { log?: Logger; pidWatchCommand?: string[] } = {}) {
  const changes: { name: string; facts: ServiceFacts }[] = [];
  const w = new ServiceWatcher({ services, log: opts.log ?? silentLogger, onChange: (name, facts) => changes.push({ name, facts }), ...opts });
  watchers.push(w);
  w.start();
  return { w, changes };
}

const svc = (name: string, kind: 'process' | 'pidfile', target: string, probeIntervalMs = MINUTE): ServiceConfig => ({
  name,
  probe: { kind, target, watch: true },
  probeIntervalMs,
  probeTimeoutMs: 1000,
});

/** Whether `pid` is still a process (a zombie counts: it was not reaped). */
const exists = (pid: number) => existsSync(`/proc/${pid}`);

/** Each test starts after the helper has its watches: a kill before that would be found by the first look, not the watch. */
async function watching(w: ServiceWatcher): Promise<number> {
  await until('the watcher helper running', () => w.pidWatcherPid !== undefined);
  // The helper reads its commands as they come; a short pause lets it open every pidfd first.
  await new Promise((r) => setTimeout(r, 200));
  return w.pidWatcherPid!;
}

describe.skipIf(skip !== undefined)('process and pidfile probes watching the process', () => {
  it('report a killed process down at once, by name and by pid file, with a probe a minute apart', async () => {
    const s = await service();
    const { w, changes } = watch([svc('by-name', 'process', s.name), svc('by-pidfile', 'pidfile', s.pidfile)]);
    await until('both up', () => changes.length === 2);
    expect(changes.map((c) => c.facts.up)).toEqual([true, true]);
    await watching(w);
    s.child.kill('SIGKILL');
    await until('both down', () => changes.length === 4);
    expect(
      changes
        .slice(2)
        .map((c) => [c.name, c.facts.up, c.facts.detail])
        .sort(),
    ).toEqual([
      ['by-name', false, `no process named ${s.name}`],
      ['by-pidfile', false, `process ${s.child.pid} (from ${s.pidfile}) is gone`],
    ]);
  });

  it('report a zombie (killed, never reaped) down at once', async () => {
    // sh starts the service in the background, then becomes a sleep that never reaps it.
    const name = `lz${process.pid % 10_000}x${++names}`;
    symlinkSync(onPath('sleep')!, join(dir, name));
    const pidfile = join(dir, `${name}.pid`);
    const parent = spawn('sh', ['-c', `"$1" 300 & echo $! > "$2"; exec sleep 300`, 'sh', join(dir, name), pidfile], { stdio: 'ignore' });
    children.push(parent);
    await until('pid file', () => existsSync(pidfile) && /^\d+\n$/.test(readFileSync(pidfile, 'utf8')));
    const pid = Number(readFileSync(pidfile, 'utf8'));
    const { w, changes } = watch([svc('by-name', 'process', name), svc('by-pidfile', 'pidfile', pidfile)]);
    await until('both up', () => changes.length === 2);
    await watching(w);
    process.kill(pid, 'SIGKILL');
    await until('both down', () => changes.length === 4);
    expect(exists(pid)).toBe(true); // still a zombie: the kernel's exit, not a reap, was seen
    expect(
      changes
        .slice(2)
        .map((c) => [c.name, c.facts.up])
        .sort(),
    ).toEqual([
      ['by-name', false],
      ['by-pidfile', false],
    ]);
  });

  it('stays up when the watched process exits but another of the same name runs', async () => {
    const a = await service();
    const other = spawn(join(dir, a.name), ['300'], { stdio: 'ignore' });
    children.push(other);
    await new Promise((r) => other.once('spawn', r));
    const { w, changes } = watch([svc('by-name', 'process', a.name)]);
    await until('up', () => changes.length === 1);
    await watching(w);
    // Whichever of the two it watches, killing both in turn must end with one down.
    a.child.kill('SIGKILL');
    await new Promise((r) => a.child.once('exit', r));
    await new Promise((r) => setTimeout(r, 300));
    expect(changes).toHaveLength(1);
    other.kill('SIGKILL');
    await until('down', () => changes.length === 2);
    expect(changes[1].facts).toMatchObject({ up: false, detail: `no process named ${a.name}` });
  });

  it('does not take a pid that now names another process for the one the probe saw', async () => {
    const s = await service();
    const pids = new PidWatcher(silentLogger, undefined);
    try {
      const calls: string[] = [];
      // The probe saw this pid with another start time: what a reused pid looks like.
      expect(pids.watch(s.child.pid!, '1', (why) => calls.push(why))).toBeDefined();
      await until('told', () => calls.length === 1);
      expect(calls[0]).toBe(`not watched: pid ${s.child.pid} now names another process`);
      expect(exists(s.child.pid!)).toBe(true);
      // The same pid with its real start time is watched, until it exits.
      const start = readFileSync(`/proc/${s.child.pid}/stat`, 'utf8').split(') ')[1].split(' ')[19];
      pids.watch(s.child.pid!, start, (why) => calls.push(why));
      await new Promise((r) => setTimeout(r, 200));
      expect(calls).toHaveLength(1);
      s.child.kill('SIGKILL');
      await until('exit seen', () => calls.length === 2);
      expect(calls[1]).toBe('process exited');
    } finally {
      pids.close();
    }
  });

  it('falls back to polling when the helper dies, and says so', async () => {
    const s = await service();
    const warnings: unknown[] = [];
    const log = { ...silentLogger, warn: (o: unknown) => warnings.push(o), child: () => log } as Logger;
    const { w, changes } = watch([svc('by-pidfile', 'pidfile', s.pidfile, 300)], { log });
    await until('up', () => changes.length === 1);
    const helper = await watching(w);
    process.kill(helper, 'SIGKILL');
    await until('helper gone noticed', () => warnings.length === 1);
    expect(warnings[0]).toMatchObject({ why: 'helper exited (SIGKILL)' });
    expect(w.pidWatcherPid).toBeUndefined();
    s.child.kill('SIGKILL');
    await until('down by polling', () => changes.length === 2);
    expect(changes[1].facts.up).toBe(false);
  });

  it('polls when the helper cannot start at all', async () => {
    const s = await service();
    const warnings: unknown[] = [];
    const log = { ...silentLogger, warn: (o: unknown) => warnings.push(o), child: () => log } as Logger;
    const { changes } = watch([svc('by-name', 'process', s.name, 300)], { log, pidWatchCommand: [join(dir, 'no-such-perl')] });
    await until('up', () => changes.length === 1);
    await until('warned', () => warnings.length === 1);
    expect(warnings[0]).toMatchObject({ why: `cannot start ${join(dir, 'no-such-perl')}: ENOENT` });
    s.child.kill('SIGKILL');
    await until('down by polling', () => changes.length === 2);
    expect(changes[1].facts.up).toBe(false);
  });

  it('ends its helper when stopped', async () => {
    const s = await service();
    const { w, changes } = watch([svc('by-pidfile', 'pidfile', s.pidfile)]);
    await until('up', () => changes.length === 1);
    const helper = await watching(w);
    expect(exists(helper)).toBe(true);
    w.stop();
    await until('helper ended', () => !exists(helper));
    expect(w.pidWatcherPid).toBeUndefined();
  });
});
