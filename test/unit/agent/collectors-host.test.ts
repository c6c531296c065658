import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { COLLECTORS } from '../../../agent/collectors/index.js';
import { parseMounts } from '../../../agent/collectors/disk.js';
import { fakeHost } from '../../helpers/fake-host.js';

// Memory, disk, net and io on fixture files (test/fixtures/host-facts): exact numbers, and a
// corrupt or missing file leaves its fields out without throwing.

let host: ReturnType<typeof fakeHost>;
afterEach(() => host?.remove());

describe('memory', () => {
  it('gives swap in use at once and the swap-in rate from the second call on', async () => {
    host = fakeHost();
    let t = 1_000_000;
    const memory = COLLECTORS.memory({ proc: host.proc, now: () => t });
    host.fixture('proc/meminfo', 'meminfo');
    host.fixture('proc/vmstat', 'vmstat-1');
    expect(await memory.collect()).toEqual({
      usedPercent: 75,
      availableBytes: 1_000_000 * 1024,
      totalBytes: 4_000_000 * 1024,
      swapUsedBytes: 500_000 * 1024,
      swapUsedPercent: 25,
    });
    t += 10_000;
    host.fixture('proc/vmstat', 'vmstat-2');
    expect((await memory.collect())!.swapInPerSec).toBe(500); // 5000 pages in 10 s
  });

  it('leaves out what it cannot read: a corrupt vmstat, a counter that went down, no swap lines', async () => {
    host = fakeHost();
    let t = 0;
    const memory = COLLECTORS.memory({ proc: host.proc, now: () => t });
    host.fixture('proc/meminfo', 'meminfo');
    host.fixture('proc/vmstat', 'vmstat-2');
    await memory.collect();
    t += 10_000;
    host.fixture('proc/vmstat', 'vmstat-1');
    expect(await memory.collect()).not.toHaveProperty('swapInPerSec');
    t += 10_000;
    host.write('proc/vmstat', 'pswpin lots\n\0\0\0');
    expect(await memory.collect()).not.toHaveProperty('swapInPerSec');
    host.write('proc/meminfo', 'MemTotal: 1000 kB\nMemAvailable: 500 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n');
    expect(await memory.collect()).toMatchObject({ usedPercent: 50, swapUsedPercent: 0, swapUsedBytes: 0 });
    host.write('proc/meminfo', 'MemTotal: 1000 kB\nMemAvailable: 500 kB\nSwapTotal: 10 kB\nSwapFree: 20 kB\n');
    const m = await memory.collect();
    expect(m).toEqual({ usedPercent: 50, availableBytes: 500 * 1024, totalBytes: 1000 * 1024 });
  });
});

describe('disk', () => {
  it('says which mounts are read-only (the first option is ro)', () => {
    const mounts = parseMounts(
      `${'/dev/vda1 / ext4 rw,relatime 0 0'}\n/dev/vdb /data xfs ro,relatime 0 0\n/dev/vdc /srv ext4 rw,errors=remount-ro 0 0\n/dev/vdd /x ext4\n`,
    );
    expect(mounts.map((m) => [m.mountPoint, m.readOnly])).toEqual([
      ['/', false],
      ['/data', true],
      ['/srv', false],
      ['/x', false],
    ]);
  });

  it('gives inodes used and the read-only state from statfs and the mount table', async () => {
    host = fakeHost();
    const dir = host.path('mnt');
    mkdirSync(dir);
    host.write('proc/self/mounts', `/dev/x ${dir} ext4 ro,relatime 0 0\n/dev/y ${tmpdir()} ext4 rw 0 0\n`);
    const disk = (await COLLECTORS.disk({ proc: host.proc }).collect())!;
    expect(disk[dir].readOnly).toBe(true);
    expect(disk[tmpdir()].readOnly).toBe(false);
    // Left out on file systems without a fixed inode table (btrfs); a percentage everywhere else.
    const inodes = disk[dir].inodesUsedPercent;
    if (inodes !== undefined) expect(inodes).toBeGreaterThanOrEqual(0);
    if (inodes !== undefined) expect(inodes).toBeLessThanOrEqual(100);
  });
});

describe('net', () => {
  it('gives error and drop rates and the link state; unknown operstate and corrupt lines are left out', async () => {
    host = fakeHost();
    let t = 0;
    const net = COLLECTORS.net({ proc: host.proc, sys: host.sys, now: () => t });
    host.write('sys/class/net/eth0/operstate', 'up\n');
    host.write('sys/class/net/eth1/operstate', 'down\n');
    host.write('sys/class/net/wg0/operstate', 'unknown\n');
    host.fixture('proc/net/dev', 'net-dev-1');
    expect(await net.collect()).toBeUndefined();
    t += 2000;
    host.fixture('proc/net/dev', 'net-dev-2');
    const zero = { rxBytesPerSec: 0, txBytesPerSec: 0, rxErrorsPerSec: 0, txErrorsPerSec: 0, rxDropsPerSec: 0, txDropsPerSec: 0 };
    expect(await net.collect()).toEqual({
      eth0: { rxBytesPerSec: 1000, txBytesPerSec: 0, rxErrorsPerSec: 10, txErrorsPerSec: 1, rxDropsPerSec: 5, txDropsPerSec: 0, up: true },
      eth1: { ...zero, up: false },
      wg0: zero,
    });
  });
});

describe('io', () => {
  it('gives util, await and bytes per second per whole device, as iostat -x', async () => {
    host = fakeHost();
    for (const d of ['vda', 'nvme0n1', 'dm-0', 'loop0', 'ram0', 'zram0']) mkdirSync(host.path(`sys/block/${d}`), { recursive: true });
    let t = 0;
    const io = COLLECTORS.io({ proc: host.proc, sys: host.sys, now: () => t });
    host.fixture('proc/diskstats', 'diskstats-1');
    expect(await io.collect()).toBeUndefined();
    t += 2000;
    host.fixture('proc/diskstats', 'diskstats-2');
    expect(await io.collect()).toEqual({
      // 1000 ms busy of 2000; 2000 ms for 200 requests; 20480 and 40960 sectors of 512 bytes in 2 s.
      vda: { utilPercent: 50, awaitMs: 10, readBytesPerSec: 5_242_880, writeBytesPerSec: 10_485_760 },
      nvme0n1: { utilPercent: 0, awaitMs: 0, readBytesPerSec: 0, writeBytesPerSec: 0 },
      // dm-0's counters went down (re-created): no figure this time; loop, ram, zram and partitions are not reported.
    });
  });

  it('tells partitions by name when /sys/block cannot be read', async () => {
    host = fakeHost();
    let t = 0;
    const io = COLLECTORS.io({ proc: host.proc, sys: host.path('no-sys'), now: () => t });
    host.fixture('proc/diskstats', 'diskstats-1');
    await io.collect();
    t += 2000;
    host.fixture('proc/diskstats', 'diskstats-2');
    expect(Object.keys((await io.collect())!).sort()).toEqual(['nvme0n1', 'vda']);
    host.write('proc/diskstats', '\0garbage\n');
    t += 2000;
    expect(await io.collect()).toEqual({});
  });
});
