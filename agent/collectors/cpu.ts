import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import type { Collector, CollectorOptions, Facts } from './types.js';

interface Ticks {
  busy: number;
  total: number;
}

/** The aggregate "cpu" line of /proc/stat: busy and total jiffies since boot. */
export function parseProcStat(text: string): Ticks | undefined {
  const line = text.split('\n', 1)[0];
  if (!line.startsWith('cpu ')) return undefined;
  // user nice system idle iowait irq softirq steal (guest time is already counted in user).
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (f.length < 4 || f.some((n) => !Number.isFinite(n))) return undefined;
  const total = f.reduce((a, b) => a + b, 0);
  const idle = f[3] + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/**
 * CPU usage over the time since the previous call (since boot on the first), from
 * /proc/stat on Linux; elsewhere systeminformation, which is slow but portable.
 */
export function createCpuCollector(opts: CollectorOptions = {}): Collector<'cpu'> {
  const proc = opts.proc ?? (process.platform === 'linux' ? '/proc' : undefined);
  let prev: Ticks | undefined;
  let lastUsage = 0;
  return {
    name: 'cpu',
    async collect(): Promise<Facts<'cpu'> | undefined> {
      try {
        let usage: number;
        if (proc) {
          const now = parseProcStat(await readFile(`${proc}/stat`, 'utf8'));
          if (!now) return undefined;
          const dTotal = now.total - (prev?.total ?? 0);
          const dBusy = now.busy - (prev?.busy ?? 0);
          // Two calls within one clock tick see no change: repeat the last value.
          usage = dTotal > 0 && dBusy >= 0 ? (100 * dBusy) / dTotal : lastUsage;
          prev = now;
        } else {
          const si = (await import('systeminformation')).default;
          usage = (await si.currentLoad()).currentLoad;
        }
        lastUsage = usage;
        const [load1, load5, load15] = loadavg();
        const cores = availableParallelism();
        return { usage: round2(usage), load1: round2(load1), load5: round2(load5), load15: round2(load15), cores, load1PerCore: round2(load1 / cores) };
      } catch {
        return undefined;
      }
    },
  };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
