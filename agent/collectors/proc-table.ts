import { closeSync, openSync, readSync } from 'node:fs';
import { readdir } from 'node:fs/promises';

/** Files read between two turns of the event loop: ~2 ms of work on a busy host, so probes and the link never wait long. */
const CHUNK = 200;

export interface ProcStat {
  pid: number;
  /** The command name (at most 15 bytes, the kernel's comm), control characters replaced. */
  comm: string;
  /** R, S, D, Z, T… */
  state: string;
  /** utime + stime, in clock ticks: CPU the process (all its threads) used since it started. */
  ticks: number;
  /** Start time since boot in ticks: with pid, it tells a process from a later one given the same pid. */
  start: number;
  rssPages: number;
}

/** One /proc/<pid>/stat line; the name sits in parentheses and may itself hold spaces and ")". */
export function parsePidStat(text: string): ProcStat | undefined {
  const open = text.indexOf(' (');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open));
  // Fields from the third on: state(3) … utime(14) stime(15) … starttime(22) vsize(23) rss(24).
  const f = text.slice(close + 2).split(' ');
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  const start = Number(f[19]);
  const rssPages = Number(f[21]);
  if (!Number.isInteger(pid) || pid <= 0 || !f[0] || ![utime, stime, start, rssPages].every(Number.isFinite)) return undefined;
  return { pid, comm: cleanName(text.slice(open + 2, close)), state: f[0], ticks: utime + stime, start, rssPages: Math.max(0, rssPages) };
}

export function cleanName(s: string): string {
  return s.replace(/\p{Cc}/gu, '?').slice(0, 200);
}

const buf = Buffer.allocUnsafe(4096);

/**
 * A small procfs file, read synchronously into one shared buffer: an async read costs three
 * thread-pool round trips and a fresh buffer each, which for thousands of processes is most of
 * the agent's CPU budget. procfs reads do not block on disks, and callers yield every CHUNK files.
 */
export function readSmall(path: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.toString('utf8', 0, n);
  } catch {
    return undefined; // the process exited since the directory was listed, or the file is unreadable
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Every process's /proc/<pid>/stat, read in chunks with a turn of the event loop between them.
 * Concurrent callers (system and top in the same collection) share one scan.
 */
export class ProcessTable {
  private inFlight: Promise<ProcStat[]> | undefined;

  constructor(readonly proc: string) {}

  scan(): Promise<ProcStat[]> {
    this.inFlight ??= this.read().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async read(): Promise<ProcStat[]> {
    const pids = (await readdir(this.proc)).filter((n) => /^\d+$/.test(n));
    const out: ProcStat[] = [];
    for (let i = 0; i < pids.length; i += CHUNK) {
      if (i > 0) await new Promise((r) => setImmediate(r));
      for (const pid of pids.slice(i, i + CHUNK)) {
        const text = readSmall(`${this.proc}/${pid}/stat`);
        const s = text === undefined ? undefined : parsePidStat(text);
        if (s) out.push(s);
      }
    }
    return out;
  }
}
