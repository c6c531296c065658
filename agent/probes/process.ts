import { readdir, readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { OnExit, PidWatcher } from './pid-watch.js';
import type { Held, ProbeResult } from './types.js';

/** Reads this many /proc entries at once: fast enough, without a burst of open files. */
const BATCH = 64;

/** The kernel keeps this many characters of a process name in comm. */
const COMM_LENGTH = 15;

export interface ProcessMatch {
  /** Live (not zombie) processes named so, in the order the system lists them. */
  pids: number[];
  /**
   * Each found pid's start time (clock ticks since boot, from /proc/<pid>/stat), so a caller
   * acting on a pid later can tell the same process from a new one that reused its pid. Linux only.
   */
  startTimes: Map<number, string>;
  /** Zombie processes named so: dead, waiting for their parent to reap them. */
  zombies: number;
  /** False when the deadline passed before the whole process list was read. */
  complete: boolean;
}

/**
 * Finds live processes named `target`: the kernel's comm (cut to 15 characters) or, failing
 * that, the base name of argv[0]. The `process` probe and the `process.kill` action share this,
 * so what a rule sees as running is what an action would signal. With `first` it stops at the
 * first match. Throws only when the process list cannot be read at all.
 */
export async function findProcesses(target: string, opts: { deadline: number; first?: boolean }): Promise<ProcessMatch> {
  if (process.platform !== 'linux') return findPortable(target, opts);
  const entries = (await readdir('/proc')).filter((d) => /^\d+$/.test(d));
  const found: number[] = [];
  const rest: string[] = [];
  let zombies = 0;
  const startTimes = new Map<number, string>();
  const starts = new Map<string, string>();
  const done = (complete: boolean): ProcessMatch => ({ pids: found, zombies, complete, startTimes });
  // Cheap pass first: the stat file alone gives comm and state.
  for (let i = 0; i < entries.length; i += BATCH) {
    const stats = await Promise.all(entries.slice(i, i + BATCH).map((pid) => readStat(pid)));
    for (const [n, s] of stats.entries()) {
      if (!s) continue;
      starts.set(entries[i + n], s.start);
      if (s.state === 'Z' || s.state === 'X') {
        if (s.comm === target.slice(0, COMM_LENGTH)) zombies++;
        continue;
      }
      if (s.comm === target) {
        found.push(Number(entries[i + n]));
        startTimes.set(Number(entries[i + n]), s.start);
        if (opts.first) return done(true);
      } else {
        rest.push(entries[i + n]);
      }
    }
    if (Date.now() > opts.deadline) return done(false);
  }
  if (found.length > 0 && opts.first) return done(true);
  // Long names are cut in comm, and some programs run under another binary's name: try argv[0].
  for (let i = 0; i < rest.length; i += BATCH) {
    const batch = rest.slice(i, i + BATCH);
    const argv0 = await Promise.all(batch.map((pid) => readArgv0(pid)));
    for (const [n, a] of argv0.entries()) {
      if (a !== target) continue;
      found.push(Number(batch[n]));
      startTimes.set(Number(batch[n]), starts.get(batch[n])!);
      if (opts.first) return done(true);
    }
    if (Date.now() > opts.deadline) return done(false);
  }
  return done(true);
}

/** Up when a live (not zombie) process named `target` exists (see findProcesses). */
export function probe(target: string, timeoutMs: number): Promise<ProbeResult> {
  return look(target, timeoutMs);
}

/**
 * Like probe(), but the process found is watched (pid-watch.ts): `onLost` is called the moment
 * it exits. With several processes of that name only the first found is watched: its exit is not
 * itself a fault, so the caller looks again, which finds (and watches) the next one if any.
 */
export function watch(target: string, timeoutMs: number, pids: PidWatcher, onLost: OnExit): Promise<ProbeResult> {
  return look(target, timeoutMs, (pid, start) => pids.watch(pid, start, onLost));
}

async function look(target: string, timeoutMs: number, watchPid?: (pid: number, start: string | undefined) => Held | undefined): Promise<ProbeResult> {
  let m: ProcessMatch;
  try {
    m = await findProcesses(target, { deadline: Date.now() + timeoutMs, first: true });
  } catch (e) {
    return { up: false, detail: `cannot read the process list: ${(e as Error).message}` };
  }
  if (m.pids.length > 0) {
    const held = watchPid?.(m.pids[0], m.startTimes.get(m.pids[0]));
    return held ? { up: true, held } : { up: true };
  }
  if (!m.complete) return { up: false, detail: `process list not read within ${timeoutMs}ms` };
  return { up: false, detail: m.zombies > 0 ? `only zombie processes named ${target}` : `no process named ${target}` };
}

/** comm sits in parentheses and may itself contain ") ", so split at the last one. */
export async function readStat(pid: string | number): Promise<{ comm: string; state: string; start: string } | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    const open = text.indexOf('(');
    const close = text.lastIndexOf(')');
    if (open < 0 || close < open) return undefined;
    // After the comm: state (field 3) … starttime (field 22).
    const fields = text.slice(close + 2).split(' ');
    return { comm: text.slice(open + 1, close), state: fields[0], start: fields[19] ?? '' };
  } catch {
    return undefined; // exited while we looked
  }
}

async function readArgv0(pid: string): Promise<string | undefined> {
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    const argv0 = cmdline.split('\0', 1)[0];
    return argv0 ? basename(argv0) : undefined;
  } catch {
    return undefined;
  }
}

/** Without /proc: systeminformation's process list (slow, ~300 ms), loaded only when needed. */
async function findPortable(target: string, opts: { deadline: number }): Promise<ProcessMatch> {
  const si = (await import('systeminformation')).default;
  let timer: NodeJS.Timeout | undefined;
  const list = await Promise.race([
    si.processes(),
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), Math.max(0, opts.deadline - Date.now()));
    }),
  ]).finally(() => clearTimeout(timer));
  if (!list) return { pids: [], zombies: 0, complete: false, startTimes: new Map() };
  const named = list.list.filter((p) => p.name === target || basename(p.command ?? '') === target);
  return {
    pids: named.filter((p) => p.state !== 'zombie').map((p) => p.pid),
    zombies: named.filter((p) => p.state === 'zombie').length,
    complete: true,
    startTimes: new Map(),
  };
}
