import { readFile } from 'node:fs/promises';
import type { Collector, CollectorOptions, Facts } from './types.js';

const MAX_IFACES = 100;

export interface NetCounters {
  rx: number;
  tx: number;
  rxErrors: number;
  txErrors: number;
  rxDrops: number;
  txDrops: number;
}

/** Cumulative byte, error and drop counters per interface from /proc/net/dev (loopback left out). */
export function parseNetDev(text: string): Map<string, NetCounters> {
  const out = new Map<string, NetCounters>();
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const iface = line.slice(0, colon).trim();
    // Receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes packets errs drop …
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (!iface || iface === 'lo' || f.length < 12 || f.slice(0, 12).some((n) => !Number.isFinite(n))) continue;
    out.set(iface, { rx: f[0], tx: f[8], rxErrors: f[2], txErrors: f[10], rxDrops: f[3], txDrops: f[11] });
  }
  return out;
}

/** operstate as a fact: "unknown" (tun, wireguard and other drivers that never set it) says nothing, so it is left out. */
export function parseOperstate(text: string): boolean | undefined {
  const s = text.trim();
  if (s === 'up') return true;
  if (s === 'down' || s === 'lowerlayerdown' || s === 'notpresent' || s === 'dormant') return false;
  return undefined;
}

/**
 * Bytes, errors and drops per second per interface since the previous call, and whether its link
 * is up. The first call only sets the baseline and returns undefined: a rate needs two readings,
 * and 0 would be a made-up fact.
 */
export function createNetCollector(opts: CollectorOptions = {}): Collector<'net'> {
  const proc = opts.proc ?? (process.platform === 'linux' ? '/proc' : undefined);
  const sys = opts.sys ?? '/sys';
  const now = opts.now ?? Date.now;
  let prev: { at: number; counters: Map<string, NetCounters> } | undefined;
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
        const pending: Promise<void>[] = [];
        let n = 0;
        for (const [iface, c] of counters) {
          const b = before.counters.get(iface);
          if (!b) continue; // appeared since the last call: no baseline yet
          if (n++ >= MAX_IFACES) break;
          // A counter that went down was reset (interface re-created): no honest rate this time.
          const facts: Facts<'net'>[string] = {
            rxBytesPerSec: rate(c.rx - b.rx, seconds),
            txBytesPerSec: rate(c.tx - b.tx, seconds),
            rxErrorsPerSec: rate(c.rxErrors - b.rxErrors, seconds),
            txErrorsPerSec: rate(c.txErrors - b.txErrors, seconds),
            rxDropsPerSec: rate(c.rxDrops - b.rxDrops, seconds),
            txDropsPerSec: rate(c.txDrops - b.txDrops, seconds),
          };
          out[iface] = facts;
          // Interface names come from the kernel and never hold "/", so the path stays under sys.
          pending.push(
            readFile(`${sys}/class/net/${iface}/operstate`, 'utf8').then(
              (t) => {
                const up = parseOperstate(t);
                if (up !== undefined) facts.up = up;
              },
              () => undefined,
            ),
          );
        }
        await Promise.all(pending);
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
