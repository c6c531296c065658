import { readFile, statfs } from 'node:fs/promises';
import type { Collector, CollectorOptions, Facts } from './types.js';

const MAX_MOUNTS = 100;
/** A statfs that takes longer than this (a hung network mount) is left out of the sample. */
const STATFS_TIMEOUT_MS = 2000;

/** Pseudo and in-memory filesystems: they hold no data anyone fills up. */
const SKIP_TYPES = new Set([
  'proc',
  'sysfs',
  'tmpfs',
  'devtmpfs',
  'devpts',
  'ramfs',
  'cgroup',
  'cgroup2',
  'securityfs',
  'pstore',
  'debugfs',
  'tracefs',
  'bpf',
  'mqueue',
  'hugetlbfs',
  'configfs',
  'fusectl',
  'autofs',
  'binfmt_misc',
  'rpc_pipefs',
  'nsfs',
  'squashfs',
  'efivarfs',
  'selinuxfs',
  'nfsd',
  'devfs',
  'fuse.lxcfs',
  'fuse.portal',
  'fuse.gvfsd-fuse',
  'fuse.snapfuse',
  'iso9660',
  'overlay',
  'aufs',
  'shiftfs',
]);

export interface Mount {
  device: string;
  mountPoint: string;
  type: string;
  /** Mounted read-only: the first mount option is "ro" (the kernel always writes rw or ro first). */
  readOnly: boolean;
}

/** Real filesystems from /proc/self/mounts, one per mount point and per device (the shortest path wins). */
export function parseMounts(text: string): Mount[] {
  const byDevice = new Map<string, Mount>();
  const seenPoints = new Set<string>();
  for (const line of text.split('\n')) {
    const [device, rawPoint, type, options] = line.split(' ');
    if (!device || !rawPoint || !type) continue;
    const mountPoint = unescapeMount(rawPoint);
    // Container roots are overlays; other overlay mounts repeat the layers beneath.
    if (SKIP_TYPES.has(type) && !(type === 'overlay' && mountPoint === '/')) continue;
    if (seenPoints.has(mountPoint)) continue;
    seenPoints.add(mountPoint);
    // Bind mounts show one filesystem under several paths; report it once.
    const key = `${device} ${type}`;
    const prev = byDevice.get(key);
    if (!prev || mountPoint.length < prev.mountPoint.length) byDevice.set(key, { device, mountPoint, type, readOnly: /^ro(,|$)/.test(options ?? '') });
  }
  return [...byDevice.values()].slice(0, MAX_MOUNTS);
}

/** The kernel writes space, tab, newline and backslash in mount paths as octal escapes. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * Usage (space and inodes) and read-only state per mounted filesystem via statfs (no child process, unlike df or systeminformation).
 * A mount whose previous statfs has not returned is skipped, so a hung NFS server ties up at
 * most one libuv thread per mount instead of a new one every interval.
 */
export function createDiskCollector(opts: CollectorOptions = {}): Collector<'disk'> {
  const proc = opts.proc ?? (process.platform === 'linux' ? '/proc' : undefined);
  const pending = new Set<string>();
  return {
    name: 'disk',
    async collect(): Promise<Facts<'disk'> | undefined> {
      try {
        if (!proc) return await collectPortable();
        const mounts = parseMounts(await readFile(`${proc}/self/mounts`, 'utf8'));
        const entries = await Promise.all(
          mounts.map(async ({ mountPoint, readOnly }) => {
            if (pending.has(mountPoint)) return undefined;
            pending.add(mountPoint);
            const stat = statfs(mountPoint).finally(() => pending.delete(mountPoint));
            const s = await withTimeout(stat, STATFS_TIMEOUT_MS).catch(() => undefined);
            if (!s || s.blocks <= 0) return undefined;
            const used = (s.blocks - s.bfree) * s.bsize;
            const free = s.bavail * s.bsize;
            const facts: Facts<'disk'>[string] = { ...usage(used, free, s.blocks * s.bsize), readOnly };
            // btrfs, xfs with inode64 growth and others report 0 files: no fixed table to run out of.
            if (s.files > 0 && s.ffree <= s.files) facts.inodesUsedPercent = Math.round((10_000 * (s.files - s.ffree)) / s.files) / 100;
            return [mountPoint, facts] as const;
          }),
        );
        const out: Facts<'disk'> = {};
        for (const e of entries) if (e) out[e[0]] = e[1];
        return out;
      } catch {
        return undefined;
      }
    },
  };
}

/** Like df: used / (used + available to unprivileged users), so reserved blocks count as full. */
function usage(usedBytes: number, freeBytes: number, totalBytes: number) {
  const denom = usedBytes + freeBytes;
  return { usedPercent: denom > 0 ? Math.round((10_000 * usedBytes) / denom) / 100 : 0, freeBytes, totalBytes };
}

async function collectPortable(): Promise<Facts<'disk'>> {
  const si = (await import('systeminformation')).default;
  const out: Facts<'disk'> = {};
  for (const fs of (await si.fsSize()).slice(0, MAX_MOUNTS)) {
    if (!fs.mount || out[fs.mount] || fs.size <= 0) continue;
    out[fs.mount] = usage(fs.used, fs.available, fs.size);
  }
  return out;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
