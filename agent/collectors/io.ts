import { readdir, readFile } from 'node:fs/promises';
import type { Collector, CollectorOptions, Facts } from './types.js';

const MAX_DEVICES = 256;
/** /proc/diskstats counts sectors of 512 bytes whatever the device's own sector size. */
const SECTOR = 512;

export interface DiskCounters {
  reads: number;
  readSectors: number;
  readMs: number;
  writes: number;
  writtenSectors: number;
  writeMs: number;
  /** Time the device had requests in flight, ms. */
  busyMs: number;
}

/** Devices nobody pages on: loop (snaps, images), RAM disks, compressed-RAM swap. */
const SKIP = /^(loop|ram|zram)\d+$/;
/** Partitions, when /sys/block cannot say which names are whole devices. */
const PARTITION = /^((sd|vd|xvd|hd)[a-z]+\d+|(nvme\d+n\d+|mmcblk\d+|md\d+)p\d+)$/;

/** Cumulative counters per device from /proc/diskstats; a short or non-numeric line is skipped. */
export function parseDiskstats(text: string): Map<string, DiskCounters> {
  const out = new Map<string, DiskCounters>();
  for (const line of text.split('\n')) {
    // major minor name, then: reads merged sectors ms, writes merged sectors ms, in-flight, io ms, weighted ms, …
    const f = line.trim().split(/\s+/);
    if (f.length < 14) continue;
    const n = f.slice(3, 14).map(Number);
    if (n.some((x) => !Number.isFinite(x))) continue;
    out.set(f[2], { reads: n[0], readSectors: n[2], readMs: n[3], writes: n[4], writtenSectors: n[6], writeMs: n[7], busyMs: n[9] });
  }
  return out;
}

/** Whole block devices worth reporting: those /sys/block lists (partitions are not there), less loop, ram and zram. */
export function keepDevice(name: string, wholeDevices: ReadonlySet<string> | undefined): boolean {
  if (SKIP.test(name)) return false;
  return wholeDevices ? wholeDevices.has(name) : !PARTITION.test(name);
}

/**
 * Per block device, over the time since the previous call, as iostat -x: the share of time it was
 * busy, the mean time a completed request took, and bytes read and written per second. The first
 * call sets the baseline and returns undefined.
 */
export function createIoCollector(opts: CollectorOptions = {}): Collector<'io'> {
  const proc = opts.proc ?? (process.platform === 'linux' ? '/proc' : undefined);
  const sys = opts.sys ?? '/sys';
  const now = opts.now ?? Date.now;
  let prev: { at: number; counters: Map<string, DiskCounters> } | undefined;
  return {
    name: 'io',
    async collect(): Promise<Facts<'io'> | undefined> {
      if (!proc) return undefined;
      try {
        const [text, whole] = await Promise.all([
          readFile(`${proc}/diskstats`, 'utf8'),
          readdir(`${sys}/block`).then(
            (names) => new Set(names),
            () => undefined,
          ),
        ]);
        const counters = parseDiskstats(text);
        const at = now();
        const before = prev;
        prev = { at, counters };
        if (!before || at <= before.at) return undefined;
        const ms = at - before.at;
        const out: Facts<'io'> = {};
        let n = 0;
        for (const [dev, c] of counters) {
          const b = before.counters.get(dev);
          if (!b || !keepDevice(dev, whole)) continue;
          if (n++ >= MAX_DEVICES) break;
          const d = (k: keyof DiskCounters) => c[k] - b[k];
          // A counter that went down was reset (device re-attached): no honest figure this time.
          if ((Object.keys(c) as (keyof DiskCounters)[]).some((k) => d(k) < 0)) continue;
          const ios = d('reads') + d('writes');
          out[dev] = {
            utilPercent: round2(Math.min(100, (100 * d('busyMs')) / ms)),
            awaitMs: ios > 0 ? round2((d('readMs') + d('writeMs')) / ios) : 0,
            readBytesPerSec: round2((d('readSectors') * SECTOR * 1000) / ms),
            writeBytesPerSec: round2((d('writtenSectors') * SECTOR * 1000) / ms),
          };
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
