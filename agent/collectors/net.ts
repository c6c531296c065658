import { readFile } from 'node:fs/promises';
import type { Collector, CollectorOptions, Facts } from './types.js';

const MAX_IFACES = 100;

/** Cumulative byte counters per interface from /proc/net/dev (loopback left out). */
export function parseNetDev(text: string): Map<string, { rx: number; tx: number }> {
  const out = new Map<string, { rx: number; tx: number }>();
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const iface = line.slice(0, colon).trim();
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (!iface || iface === 'lo' || f.length < 9 || !Number.isFinite(f[0]) || !Number.isFinite(f[8])) continue;
    out.set(iface, { rx: f[0], tx: f[8] });
  }
  return out;
}

/**
 * Bytes per second per interface since the previous call. The first call only sets the
 * baseline and returns undefined: a rate needs two readings, and 0 would be a made-up fact.
 */
export function createNetCollector(opts: CollectorOptions = {}): Collector<'net'> {
  const proc = opts.proc ?? (process.platform === 'linux' ? '/proc' : undefined);
  const now = opts.now ?? Date.now;
  let prev: { at: number; counters: Map<string, { rx: number; tx: number }> } | undefined;
  return {
    name: 'net',
    async collect(): Promise<Facts<'net'> | undefined> {
      try {
        if (!proc) return await collectPortable();
        const counters = parseNetDev(await readFile(`${proc}/net/dev`, 'utf8'));
        const at = now();
        const before = prev;
        prev = { at, counters };
        if (!before || at <= before.at) return undefined;
        const seconds = (at - before.at) / 1000;
        const out: Facts<'net'> = {};
        let n = 0;
        for (const [iface, c] of counters) {
          const b = before.counters.get(iface);
          if (!b) continue; // appeared since the last call: no baseline yet
          if (n++ >= MAX_IFACES) break;
          // A counter that went down was reset (interface re-created): no honest rate this time.
          out[iface] = { rxBytesPerSec: rate(c.rx - b.rx, seconds), txBytesPerSec: rate(c.tx - b.tx, seconds) };
        }
        return out;
      } catch {
        return undefined;
      }
    },
  };
}

function rate(delta: number, seconds: number): number {
  return delta >= 0 ? Math.round((100 * delta) / seconds) / 100 : 0;
}

async function collectPortable(): Promise<Facts<'net'> | undefined> {
  const si = (await import('systeminformation')).default;
  const out: Facts<'net'> = {};
  for (const s of (await si.networkStats('*')).slice(0, MAX_IFACES)) {
    if (s.iface === 'lo' || s.iface === 'lo0') continue;
    out[s.iface] = { rxBytesPerSec: Math.max(0, s.rx_sec ?? 0), txBytesPerSec: Math.max(0, s.tx_sec ?? 0) };
  }
  return out;
}
