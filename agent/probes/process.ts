import { readdir, readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { ProbeResult } from './index.js';

/** Reads this many /proc entries at once: fast enough, without a burst of open files. */
const BATCH = 64;

/**
 * Up when a live (not zombie) process named `target` exists. The name is the kernel's comm
 * (cut to 15 characters) or, failing that, the base name of argv[0].
 */
export async function probe(target: string, timeoutMs: number): Promise<ProbeResult> {
  if (process.platform !== 'linux') return probePortable(target, timeoutMs);
  const deadline = Date.now() + timeoutMs;
  try {
    const pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d));
    const alive: string[] = [];
    let zombies = 0;
    // Cheap pass first: the stat file alone gives comm and state.
    for (let i = 0; i < pids.length; i += BATCH) {
      const stats = await Promise.all(pids.slice(i, i + BATCH).map((pid) => readStat(pid)));
      for (const [n, s] of stats.entries()) {
        if (!s) continue;
        if (s.state === 'Z' || s.state === 'X') { if (s.comm === target.slice(0, 15)) zombies++; continue; }
        if (s.comm === target) return { up: true };
        alive.push(pids[i + n]);
      }
      if (Date.now() > deadline) return { up: false, detail: `process list not read within ${timeoutMs}ms` };
    }
    // Long names are cut in comm, and some programs run under another binary's name: try argv[0].
    for (let i = 0; i < alive.length; i += BATCH) {
      const argv0 = await Promise.all(alive.slice(i, i + BATCH).map((pid) => readArgv0(pid)));
      if (argv0.includes(target)) return { up: true };
      if (Date.now() > deadline) return { up: false, detail: `process list not read within ${timeoutMs}ms` };
    }
    return { up: false, detail: zombies > 0 ? `only zombie processes named ${target}` : `no process named ${target}` };
  } catch (e) {
    return { up: false, detail: `cannot read /proc: ${(e as Error).message}` };
  }
}

/** comm sits in parentheses and may itself contain ") ", so split at the last one. */
async function readStat(pid: string): Promise<{ comm: string; state: string } | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    const open = text.indexOf('(');
    const close = text.lastIndexOf(')');
    if (open < 0 || close < open) return undefined;
    return { comm: text.slice(open + 1, close), state: text.charAt(close + 2) };
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

async function probePortable(target: string, timeoutMs: number): Promise<ProbeResult> {
  try {
    const si = (await import('systeminformation')).default;
    let timer: NodeJS.Timeout | undefined;
    const list = await Promise.race([
      si.processes(),
      new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), timeoutMs); }),
    ]).finally(() => clearTimeout(timer));
    if (!list) return { up: false, detail: `process list not read within ${timeoutMs}ms` };
    const found = list.list.some((p) => (p.name === target || basename(p.command ?? '') === target) && p.state !== 'zombie');
    return found ? { up: true } : { up: false, detail: `no process named ${target}` };
  } catch (e) {
    return { up: false, detail: `cannot list processes: ${(e as Error).message}` };
  }
}
