import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { COLLECTORS, collectFacts, createCollectors } from '../../../agent/collectors/index.js';
import { parseMounts } from '../../../agent/collectors/disk.js';
import { check, sampleBody } from '../../../protocol/index.js';

const linux = process.platform === 'linux';

/** A fake procfs the collectors read instead of /proc, so numbers are known exactly. */
function fakeProc() {
  const dir = mkdtempSync(join(tmpdir(), 'laas-proc-'));
  mkdirSync(join(dir, 'net'));
  mkdirSync(join(dir, 'self'));
  const write = (file: string, text: string) => writeFileSync(join(dir, file), text);
  return { dir, write };
}

const NET_HEADER =
  'Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n';
const NO_ERRORS = { rxErrorsPerSec: 0, txErrorsPerSec: 0, rxDropsPerSec: 0, txDropsPerSec: 0 };
const netLine = (iface: string, rx: number, tx: number) => `  ${iface}: ${rx} 1 0 0 0 0 0 0 ${tx} 1 0 0 0 0 0 0\n`;

describe('collectors on this host', () => {
  it.runIf(linux)('give facts that fit the sample message', async () => {
    const collectors = createCollectors();
    expect(collectors.map((c) => c.name)).toEqual(['cpu', 'memory', 'disk', 'net', 'io', 'system', 'top']);
    await collectFacts(collectors); // sets the baselines for rates
    await new Promise((r) => setTimeout(r, 50));
    const facts = await collectFacts(collectors);
    expect(check(sampleBody, { seq: 0, ts: Date.now(), trigger: 'interval', ...facts })).toMatchObject({ ok: true });

    expect(facts.cpu!.usage).toBeGreaterThanOrEqual(0);
    expect(facts.cpu!.usage).toBeLessThanOrEqual(100);
    expect(facts.memory!.totalBytes).toBeGreaterThan(0);
    expect(facts.memory!.availableBytes).toBeLessThanOrEqual(facts.memory!.totalBytes);
    expect(facts.memory!.usedPercent).toBeGreaterThan(0);
    expect(facts.memory!.usedPercent).toBeLessThan(100);
    const root = facts.disk!['/'];
    expect(root.totalBytes).toBeGreaterThan(0);
    expect(root.freeBytes).toBeLessThanOrEqual(root.totalBytes);
    expect(Object.keys(facts.disk!).some((m) => m.startsWith('/proc') || m.startsWith('/sys'))).toBe(false);
    expect(facts.net).toBeDefined();
    expect(facts.net!.lo).toBeUndefined();
    for (const v of [facts.cpu!.usage, root.usedPercent, facts.memory!.usedPercent]) expect(Math.round(v * 100) / 100).toBe(v);
  });

  it.runIf(linux)('are cheap enough to run every second', async () => {
    const collectors = createCollectors();
    await collectFacts(collectors);
    const started = performance.now();
    for (let i = 0; i < 10; i++) await collectFacts(collectors);
    // The bound is the claim (a collection fits in the 1 s interval); what it costs is measured in bench/agent-footprint.
    expect((performance.now() - started) / 10).toBeLessThan(1000);
  });
});

describe('collectors on a fake /proc', () => {
  const proc = fakeProc();
  afterAll(() => rmSync(proc.dir, { recursive: true, force: true }));

  it('cpu usage is the busy share of the ticks since the last call', async () => {
    const cpu = COLLECTORS.cpu({ proc: proc.dir });
    proc.write('stat', 'cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n');
    expect((await cpu.collect())!.usage).toBe(20); // since boot: 200 busy of 1000
    proc.write('stat', 'cpu  400 0 100 850 50 0 0 0 0 0\n');
    expect((await cpu.collect())!.usage).toBe(75); // +300 busy, +100 idle/iowait
    proc.write('stat', 'garbage\n');
    expect(await cpu.collect()).toBeUndefined();
  });

  it('memory counts what is not available as used', async () => {
    proc.write('meminfo', 'MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    333 kB\n');
    expect(await COLLECTORS.memory({ proc: proc.dir }).collect()).toEqual({ usedPercent: 66.7, availableBytes: 333 * 1024, totalBytes: 1000 * 1024 });
    // (no vmstat in this fake /proc yet, no swap lines: the swap fields are left out)
    proc.write('meminfo', 'nonsense\n');
    expect(await COLLECTORS.memory({ proc: proc.dir }).collect()).toBeUndefined();
  });

  it('net gives per-second rates from the second call on, without loopback', async () => {
    let t = 1_000_000;
    const net = COLLECTORS.net({ proc: proc.dir, sys: proc.dir, now: () => t });
    proc.write('net/dev', NET_HEADER + netLine('lo', 5, 5) + netLine('eth0', 1000, 2000));
    expect(await net.collect()).toBeUndefined();
    t += 2000;
    proc.write('net/dev', NET_HEADER + netLine('lo', 500, 500) + netLine('eth0', 5000, 2000) + netLine('wg0', 1, 1));
    expect(await net.collect()).toEqual({ eth0: { ...NO_ERRORS, rxBytesPerSec: 2000, txBytesPerSec: 0 } });
    t += 1000;
    proc.write('net/dev', NET_HEADER + netLine('eth0', 10, 2100) + netLine('wg0', 101, 1));
    expect(await net.collect()).toEqual({
      eth0: { ...NO_ERRORS, rxBytesPerSec: 0, txBytesPerSec: 100 },
      wg0: { ...NO_ERRORS, rxBytesPerSec: 100, txBytesPerSec: 0 },
    });
  });

  it('disk keeps real filesystems, once per mount point and device', () => {
    const mounts = parseMounts(
      [
        'proc /proc proc rw 0 0',
        'overlay / overlay rw,lowerdir=/a 0 0',
        '/dev/vda1 /data ext4 rw 0 0',
        '/dev/vda1 /etc/hosts ext4 rw 0 0',
        'tmpfs /run tmpfs rw 0 0',
        'overlay /var/lib/docker/overlay2/x/merged overlay rw 0 0',
        'cgroup2 /sys/fs/cgroup cgroup2 rw 0 0',
        '/dev/vdb /mnt/my\\040disk xfs rw 0 0',
        '/dev/vdb /mnt/my\\040disk xfs rw 0 0',
        '/dev/loop0 /snap/core/1 squashfs ro 0 0',
        'server:/export /nfs nfs4 rw 0 0',
      ].join('\n'),
    );
    expect(mounts.map((m) => m.mountPoint)).toEqual(['/', '/data', '/mnt/my disk', '/nfs']);
  });

  it('disk reads statfs of the mounts listed', async () => {
    proc.write('self/mounts', `/dev/x ${tmpdir()} ext4 rw 0 0\n/dev/y /surely/not/mounted ext4 rw 0 0\n`);
    const disk = await COLLECTORS.disk({ proc: proc.dir }).collect();
    expect(Object.keys(disk!)).toEqual([tmpdir()]);
    expect(disk![tmpdir()].totalBytes).toBeGreaterThan(0);
  });
});
