import { readFile, stat } from 'node:fs/promises';
import { ProcessTable, cleanName, readSmall, type ProcStat } from './proc-table.js';
import type { Collector, CollectorOptions, Facts } from './types.js';

const TOP = 5;
/**
 * USER_HZ, the unit of utime and stime: 100 on every Linux architecture Node runs on (the kernel
 * fixes it for user space whatever CONFIG_HZ is), and Node has no sysconf to ask.
 */
const TICKS_PER_SEC = 100;
/** How often /etc/passwd is re-read when a uid is not in it (a user added since). */
const PASSWD_EVERY_MS = 60_000;

type Entry = Facts<'top'>['cpu'][number];

/** uid → name from an /etc/passwd text. */
export function parsePasswd(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of text.split('\n')) {
    const [name, , uid] = line.split(':');
    const n = Number(uid);
    if (name && uid && Number.isSafeInteger(n) && !out.has(n)) out.set(n, cleanName(name).slice(0, 100));
  }
  return out;
}

/** The real uid and VmRSS (bytes) from /proc/<pid>/status; kernel threads have no VmRSS. */
export function parseStatus(text: string): { uid?: number; rssBytes?: number } {
  const uid = /^Uid:\s+(\d+)/m.exec(text);
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(text);
  return { uid: uid ? Number(uid[1]) : undefined, rssBytes: rss ? Number(rss[1]) * 1024 : undefined };
}

/**
 * The five processes that used the most CPU since the previous call (as % of one core, like top)
 * and the five with the most resident memory, each named with its owner, so an alert can say who.
 * One read of every /proc/<pid>/stat (shared with the system collector), then /proc/<pid>/status
 * for the ten named only. The first call sets the CPU baseline and returns undefined.
 */
export function createTopCollector(opts: CollectorOptions = {}): Collector<'top'> {
  const proc = opts.proc ?? (process.platform === 'linux' ? '/proc' : undefined);
  const passwdFile = opts.passwd ?? '/etc/passwd';
  const now = opts.now ?? Date.now;
  const table = opts.processTable ?? (proc ? new ProcessTable(proc) : undefined);
  let prev: { at: number; ticks: Map<number, { start: number; ticks: number }> } | undefined;
  let users: { map: Map<number, string>; at: number; mtimeMs: number } | undefined;

  async function userName(uid: number): Promise<string> {
    const at = now();
    if (!users || (!users.map.has(uid) && at - users.at >= PASSWD_EVERY_MS)) {
      const mtimeMs = await stat(passwdFile).then(
        (s) => s.mtimeMs,
        () => -1,
      );
      if (!users || mtimeMs !== users.mtimeMs) users = { map: parsePasswd(await readFile(passwdFile, 'utf8').catch(() => '')), at, mtimeMs };
      else users.at = at;
    }
    return users.map.get(uid) ?? String(uid);
  }

  async function entry(p: ProcStat, cpuPercent: number): Promise<Entry | undefined> {
    const text = readSmall(`${proc}/${p.pid}/status`);
    if (text === undefined) return undefined; // gone since the scan
    const s = parseStatus(text);
    return { pid: p.pid, name: p.comm, user: s.uid === undefined ? '?' : await userName(s.uid), cpuPercent, rssBytes: s.rssBytes ?? 0 };
  }

  return {
    name: 'top',
    async collect(): Promise<Facts<'top'> | undefined> {
      if (!table) return undefined;
      try {
        const procs = await table.scan();
        const at = now();
        const before = prev;
        const ticks = new Map<number, { start: number; ticks: number }>();
        for (const p of procs) ticks.set(p.pid, { start: p.start, ticks: p.ticks });
        prev = { at, ticks };
        if (!before || at <= before.at) return undefined;
        const seconds = (at - before.at) / 1000;
        // Only processes seen last time count: a new one (or a reused pid) has no baseline.
        const cpu: { p: ProcStat; pct: number }[] = [];
        for (const p of procs) {
          const b = before.ticks.get(p.pid);
          if (!b || b.start !== p.start || p.ticks <= b.ticks) continue;
          cpu.push({ p, pct: Math.round((10_000 * (p.ticks - b.ticks)) / TICKS_PER_SEC / seconds) / 100 });
        }
        // Twice as many candidates as places: one that exits before its status is read gives way to the next.
        const byCpu = topN(cpu, (a, b) => b.pct - a.pct, 2 * TOP);
        const byMem = topN(
          procs.filter((p) => p.rssPages > 0),
          (a, b) => b.rssPages - a.rssPages,
          2 * TOP,
        );
        const pctOf = new Map(cpu.map((c) => [c.p.pid, c.pct]));
        const named = new Map<number, Entry | undefined>();
        const pick = async (ps: ProcStat[]) => {
          const out: Entry[] = [];
          for (const p of ps) {
            if (out.length >= TOP) break;
            if (!named.has(p.pid)) named.set(p.pid, await entry(p, pctOf.get(p.pid) ?? 0));
            const e = named.get(p.pid);
            if (e) out.push(e);
          }
          return out;
        };
        return { cpu: await pick(byCpu.map((c) => c.p)), memory: await pick(byMem) };
      } catch {
        return undefined;
      }
    },
  };
}

/** The first n by `cmp` without sorting the whole list (thousands of processes, a few wanted); ties keep /proc order. */
function topN<T>(items: T[], cmp: (a: T, b: T) => number, n: number): T[] {
  const best: T[] = [];
  for (const it of items) {
    if (best.length === n && cmp(it, best[n - 1]) >= 0) continue;
    let i = best.length;
    while (i > 0 && cmp(it, best[i - 1]) < 0) i--;
    best.splice(i, 0, it);
    if (best.length > n) best.pop();
  }
  return best;
}
