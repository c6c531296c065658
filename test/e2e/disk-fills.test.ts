import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../helpers/fleet.js';
import { onPath, stopAll } from '../helpers/procs.js';

interface Alert {
  rule: string;
  host: string;
  state: string;
  summary: string;
}

const IS_ROOT = process.getuid?.() === 0;
const MIB = 1024 * 1024;

/**
 * A disk that really fills: a 64 MiB ext4 image mounted on a loop device, watched by a real agent
 * sampling every second, and written to at 2 MiB/s by the test. A rule predicting the free space
 * two minutes ahead from the last 20 s (`predict`, least squares, like predict_linear) must fire
 * while the filesystem still has room — the point of predicting — and its window must first be
 * full: the flat start is no reason to alert.
 */
describe('a filesystem filling up, predicted full before it is', () => {
  const fleet = new Fleet();
  const image = join(fleet.dir, 'disk.img');
  const mnt = join(fleet.dir, 'mnt');
  let mounted = false;

  beforeAll(async () => {
    const can = IS_ROOT && onPath('mkfs.ext4') && onPath('mount');
    if (can) {
      mkdirSync(mnt);
      spawnSync('truncate', ['-s', '64M', image]);
      // -m 0: no blocks reserved for root, so free space is what statfs and the agent both call free.
      const mkfs = spawnSync('mkfs.ext4', ['-q', '-m', '0', image], { encoding: 'utf8' });
      const mount = mkfs.status === 0 ? spawnSync('mount', ['-o', 'loop', image, mnt], { encoding: 'utf8' }) : mkfs;
      mounted = mount.status === 0;
      if (!mounted && process.env.CI) throw new Error(`cannot mount a loop filesystem (${mount.stderr.trim()}): CI runs as root with loop devices`);
    } else if (process.env.CI) throw new Error('this test needs root, mkfs.ext4 (e2fsprogs) and mount, as CI has');
    if (!mounted) {
      console.warn('[disk-fills] skipped: mounting a loop filesystem needs root and e2fsprogs');
      return;
    }
    fleet.rule('e2e', 'disk-fills-soon', {
      when: { all: [{ fact: 'disk', path: `$['${mnt}'].freeBytes`, over: '20s', fn: 'predict', ahead: '2m', operator: 'lessThan', value: 0 }] },
      severity: 'warning',
      summary: '{{host}}: the test disk fills within 2 minutes',
    });
    await fleet.startController();
    fleet.startAgent('disk-1', { interval: '1s' });
    await fleet.hostConnected('disk-1');
  }, 60_000);

  afterAll(async () => {
    await stopAll();
    if (mounted) spawnSync('umount', ['-l', mnt]);
    await fleet.cleanup();
  });

  it('fires while there is still room, once its window is full', async (t) => {
    if (!mounted) return t.skip();
    const firing = async () => (await fleet.api<Alert[]>('/api/v1/alerts?state=firing')).find((a) => a.rule === 'e2e/disk-fills-soon');
    // A full window of a flat disk first: 25 s of samples at one per second, and no alert.
    await new Promise((r) => setTimeout(r, 25_000));
    expect(await firing()).toBeUndefined();

    const total = (() => {
      const s = statfsSync(mnt);
      return s.blocks * s.bsize;
    })();
    const fd = openSync(join(mnt, 'fill'), 'w');
    const chunk = Buffer.alloc(MIB / 2, 1);
    let written = 0;
    let full = false;
    let freeAtAlert = -1;
    try {
      // 0.5 MiB every 250 ms until the alert fires or the disk is full (bounded: 64 MiB is 32 s).
      for (let i = 0; i < 200 && !full; i++) {
        try {
          writeSync(fd, chunk);
          written += chunk.length;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
          full = true;
        }
        const alert = await firing();
        if (alert) {
          const s = statfsSync(mnt);
          freeAtAlert = s.bavail * s.bsize;
          expect(alert).toMatchObject({ host: 'disk-1', state: 'firing', summary: 'disk-1: the test disk fills within 2 minutes' });
          break;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      closeSync(fd);
    }
    expect(full, `the disk filled (${written / MIB} MiB written) before the alert fired`).toBe(false);
    expect(freeAtAlert).toBeGreaterThan(0);
    // Predicted, not observed: well before the end, with a good share of the filesystem free.
    expect(freeAtAlert / total, `free at the alert: ${freeAtAlert / MIB} MiB of ${total / MIB}`).toBeGreaterThan(0.2);
  }, 90_000);
});
