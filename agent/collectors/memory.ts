import { readFile } from 'node:fs/promises';
import type { Collector, CollectorOptions, Facts } from './types.js';

export interface Meminfo {
  total: number;
  available: number;
  swapTotal?: number;
  swapFree?: number;
}

/** MemTotal, MemAvailable and swap from /proc/meminfo, in bytes. */
export function parseMeminfo(text: string): Meminfo | undefined {
  const kb: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+)(?:\s+kB)?$/.exec(line.trim());
    if (m) kb[m[1]] = Number(m[2]) * 1024;
  }
  const total = kb.MemTotal;
  // Kernels before 3.14 lack MemAvailable; free + page cache is the usual stand-in.
  const available = kb.MemAvailable ?? (kb.MemFree !== undefined ? kb.MemFree + (kb.Buffers ?? 0) + (kb.Cached ?? 0) : undefined);
  if (!total || available === undefined) return undefined;
  const out: Meminfo = { total, available };
  if (kb.SwapTotal !== undefined && kb.SwapFree !== undefined && kb.SwapFree <= kb.SwapTotal) {
    out.swapTotal = kb.SwapTotal;
    out.swapFree = kb.SwapFree;
  }
  return out;
}

/** The counters of /proc/vmstat ("name value" lines); a line that is not one is skipped. */
export function parseVmstat(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+) (\d+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/**
 * Memory in use as the kernel sees it: what is not available to new work without swapping. Swap
 * in use, and pages swapped in per second (from the second call on: a rate needs two readings) —
 * swap-in, not swap used, is what says the host is short of memory now.
 */
export function createMemoryCollector(opts: CollectorOptions = {}): Collector<'memory'> {
  const proc = opts.proc ?? (process.platform === 'linux' ? '/proc' : undefined);
  const now = opts.now ?? Date.now;
  let prevSwapIn: { at: number; pages: number } | undefined;
  return {
    name: 'memory',
    async collect(): Promise<Facts<'memory'> | undefined> {
      try {
        let m: Meminfo | undefined;
        if (proc) m = parseMeminfo(await readFile(`${proc}/meminfo`, 'utf8'));
        else {
          const si = (await import('systeminformation')).default;
          const s = await si.mem();
          m = { total: s.total, available: s.available, swapTotal: s.swaptotal, swapFree: s.swapfree };
        }
        if (!m || m.total <= 0) return undefined;
        const out: Facts<'memory'> = {
          usedPercent: round2((100 * (m.total - m.available)) / m.total),
          availableBytes: m.available,
          totalBytes: m.total,
        };
        if (m.swapTotal !== undefined && m.swapFree !== undefined) {
          out.swapUsedBytes = m.swapTotal - m.swapFree;
          out.swapUsedPercent = m.swapTotal > 0 ? round2((100 * out.swapUsedBytes) / m.swapTotal) : 0;
        }
        if (proc) {
          const pages = await readFile(`${proc}/vmstat`, 'utf8').then(
            (t) => parseVmstat(t).get('pswpin'),
            () => undefined,
          );
          const at = now();
          const before = prevSwapIn;
          prevSwapIn = pages === undefined ? undefined : { at, pages };
          // A counter that went down (or no baseline yet) gives no honest rate this time.
          if (before && pages !== undefined && at > before.at && pages >= before.pages)
            out.swapInPerSec = round2(((pages - before.pages) * 1000) / (at - before.at));
        }
        return out;
      } catch {
        return undefined;
      }
    },
  };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
