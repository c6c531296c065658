import { readFile } from 'node:fs/promises';
import type { Collector, CollectorOptions, Facts } from './types.js';

/** MemTotal and MemAvailable from /proc/meminfo, in bytes. */
export function parseMeminfo(text: string): { total: number; available: number } | undefined {
  const kb: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+)(?:\s+kB)?$/.exec(line.trim());
    if (m) kb[m[1]] = Number(m[2]) * 1024;
  }
  const total = kb.MemTotal;
  // Kernels before 3.14 lack MemAvailable; free + page cache is the usual stand-in.
  const available = kb.MemAvailable ?? (kb.MemFree !== undefined ? kb.MemFree + (kb.Buffers ?? 0) + (kb.Cached ?? 0) : undefined);
  if (!total || available === undefined) return undefined;
  return { total, available };
}

/** Memory in use as the kernel sees it: what is not available to new work without swapping. */
export function createMemoryCollector(opts: CollectorOptions = {}): Collector<'memory'> {
  const proc = opts.proc ?? (process.platform === 'linux' ? '/proc' : undefined);
  return {
    name: 'memory',
    async collect(): Promise<Facts<'memory'> | undefined> {
      try {
        let m: { total: number; available: number } | undefined;
        if (proc) m = parseMeminfo(await readFile(`${proc}/meminfo`, 'utf8'));
        else {
          const si = (await import('systeminformation')).default;
          const s = await si.mem();
          m = { total: s.total, available: s.available };
        }
        if (!m || m.total <= 0) return undefined;
        return {
          usedPercent: round2((100 * (m.total - m.available)) / m.total),
          availableBytes: m.available,
          totalBytes: m.total,
        };
      } catch {
        return undefined;
      }
    },
  };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
