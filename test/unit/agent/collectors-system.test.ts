import { mkdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { COLLECTORS } from '../../../agent/collectors/index.js';
import { parseChronyOffsetMs, parseFailedUnits } from '../../../agent/collectors/system-commands.js';
import { ProcessTable } from '../../../agent/collectors/proc-table.js';
import { fakeHost } from '../../helpers/fake-host.js';

// The system and top collectors on a fake host (test/fixtures/host-facts plus generated
// /proc/<pid> entries); the commands systemctl, timedatectl and chronyc are replaced by a
// recorder, so the once-a-minute rule is counted, not timed.

let host: ReturnType<typeof fakeHost>;
afterEach(() => host?.remove());

function commands(out: Record<string, string | Error>) {
  const calls: string[] = [];
  const exec = (file: string) => {
    calls.push(file);
    const r = out[file];
    return r === undefined ? Promise.reject(new Error(`spawn ${file} ENOENT`)) : r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
  };
  return { calls, exec };
}

const FAILED = 'nginx.service loaded failed failed A high performance web server\nbackup@db.timer loaded failed failed Nightly backup\n';
const CHRONY = 'A29FC87B,time.example,3,1733389200.123,-0.001234567,0.0001,0.0002,3.2,0.01,0.1,0.01,0.001,64.2,Normal\n';

describe('system', () => {
  it('reads every fact it can from procfs, /run and the once-a-minute commands', async () => {
    host = fakeHost();
    host.fixture('proc/uptime', 'uptime');
    host.fixture('proc/vmstat', 'vmstat-1');
    host.fixture('proc/sys/fs/file-nr', 'file-nr');
    host.fixture('proc/net/snmp', 'snmp-1');
    host.process({ pid: 1, comm: 'systemd', utime: 10, rssPages: 100 });
    host.process({ pid: 200, comm: 'worker', state: 'Z', utime: 1, rssPages: 0 });
    host.process({ pid: 201, comm: 'worker', state: 'Z', utime: 1, rssPages: 0 });
    host.process({ pid: 300, comm: 'postgres', state: 'R', utime: 500, rssPages: 1000 });
    host.write('run/reboot-required', '*** System restart required ***\n');
    mkdirSync(host.path('run/systemd/system'), { recursive: true });
    const cmd = commands({ systemctl: FAILED, timedatectl: 'yes\n', chronyc: CHRONY });
    let t = 0;
    const system = COLLECTORS.system({ proc: host.proc, run: host.run, exec: cmd.exec, now: () => t });
    expect(await system.collect()).toEqual({
      uptimeSec: 1235,
      rebootRequired: true,
      processes: 4,
      zombies: 2,
      fdUsed: 2048,
      fdMax: 100_000,
      fdUsedPercent: 2.05,
      oomKills: 2,
      tcpEstablished: 42,
      failedUnits: ['nginx.service', 'backup@db.timer'],
      clockSynced: true,
      clockOffsetMs: 1.235,
    });
    t += 10_000;
    host.fixture('proc/net/snmp', 'snmp-2');
    host.fixture('proc/vmstat', 'vmstat-2');
    expect(await system.collect()).toMatchObject({ tcpEstablished: 40, tcpRetransPerSec: 4, oomKills: 3 });
    for (let i = 0; i < 4; i++) {
      t += 10_000;
      await system.collect();
    }
    expect(cmd.calls.sort()).toEqual(['chronyc', 'systemctl', 'timedatectl']); // 50 s: still the first run's answers
    t += 10_000;
    await system.collect();
    expect(cmd.calls.length).toBe(6);
  });

  it('leaves a field out when its source is missing or corrupt, and never throws', async () => {
    host = fakeHost();
    host.write('proc/uptime', 'soon\n');
    host.write('proc/vmstat', 'oom_kill -1\n');
    host.write('proc/sys/fs/file-nr', '\0\0\0');
    host.write('proc/net/snmp', 'Tcp: only one line\n');
    host.write('proc/7/stat', '7 (half');
    // Not booted with systemd: systemctl and timedatectl are not even asked; chronyc fails.
    const cmd = commands({ systemctl: FAILED, timedatectl: 'yes' });
    const system = COLLECTORS.system({ proc: host.proc, run: host.run, exec: cmd.exec });
    expect(await system.collect()).toEqual({ rebootRequired: false, processes: 0, zombies: 0 });
    expect(cmd.calls).toEqual(['chronyc']);
  });

  it('reports fds used without a percentage when the kernel sets no limit (LONG_MAX)', async () => {
    host = fakeHost();
    host.fixture('proc/sys/fs/file-nr', 'file-nr-unlimited');
    const system = COLLECTORS.system({ proc: host.proc, run: host.run, exec: commands({}).exec });
    const facts = (await system.collect())!;
    expect(facts.fdUsed).toBe(2048);
    expect(facts).not.toHaveProperty('fdMax');
    expect(facts).not.toHaveProperty('fdUsedPercent');
  });

  it('a failed command clears its fact instead of repeating a stale answer', async () => {
    host = fakeHost();
    mkdirSync(host.path('run/systemd/system'), { recursive: true });
    const out: Record<string, string | Error> = { systemctl: FAILED, timedatectl: 'no\n' };
    let t = 0;
    const system = COLLECTORS.system({ proc: host.proc, run: host.run, exec: commands(out).exec, now: () => t });
    expect(await system.collect()).toMatchObject({ failedUnits: ['nginx.service', 'backup@db.timer'], clockSynced: false });
    out.systemctl = new Error('Failed to connect to bus');
    out.timedatectl = 'maybe\n';
    t += 60_000;
    const facts = (await system.collect())!;
    expect(facts).not.toHaveProperty('failedUnits');
    expect(facts).not.toHaveProperty('clockSynced');
  });

  it('parses systemctl and chronyc output, refusing what is not a unit name or a number', () => {
    expect(parseFailedUnits('● old.service loaded failed failed Old\n\n  \nnot a unit\u0007 x\n')).toEqual(['old.service', 'not']);
    expect(parseFailedUnits('')).toEqual([]);
    expect(parseChronyOffsetMs('A,b,3,1,0.5,0\n')).toBe(500);
    expect(parseChronyOffsetMs('A,b,3,1,,0\n')).toBeUndefined();
    expect(parseChronyOffsetMs('506 Cannot talk to daemon\n')).toBeUndefined();
  });
});

describe('top', () => {
  it('names the five biggest by cpu since the last call and by memory, with their owners', async () => {
    host = fakeHost();
    host.fixture('etc/passwd', 'passwd');
    const procs = [
      { pid: 1, comm: 'systemd', utime: 100, rssPages: 3000, uid: 0 },
      { pid: 10, comm: 'kworker/0:1', utime: 0, rssPages: 0, uid: 0 },
      { pid: 20, comm: 'postgres', utime: 1000, rssPages: 900_000, uid: 105 },
      { pid: 21, comm: 'nginx', utime: 50, rssPages: 5000, uid: 33 },
      { pid: 22, comm: 'odd) name (x', utime: 10, rssPages: 10, uid: 4242 },
      { pid: 23, comm: 'reused', utime: 10, rssPages: 10, uid: 0, start: 100 },
      { pid: 24, comm: 'gone', utime: 10, rssPages: 800_000, uid: 0 },
      { pid: 25, comm: 'a', utime: 0, rssPages: 1, uid: 1 },
      { pid: 26, comm: 'b', utime: 0, rssPages: 2, uid: 1 },
    ];
    for (const p of procs) host.process(p);
    let t = 0;
    const top = COLLECTORS.top({ proc: host.proc, passwd: host.passwd, now: () => t });
    expect(await top.collect()).toBeUndefined(); // cpu needs a baseline
    t += 10_000;
    host.process({ pid: 10, comm: 'kworker/0:1', utime: 100, rssPages: 0, uid: 0 }); // 1 s of cpu in 10 s: 10%
    host.process({ pid: 20, comm: 'postgres', utime: 1000, stime: 900, rssPages: 900_000, uid: 105 }); // 9 s: 90%
    host.process({ pid: 21, comm: 'nginx', utime: 70, rssPages: 5000, uid: 33 });
    host.process({ pid: 22, comm: 'odd) name (x', utime: 15, rssPages: 10, uid: 4242 });
    host.process({ pid: 23, comm: 'reused', utime: 5000, rssPages: 10, uid: 0, start: 900 }); // a new process with an old pid
    host.process({ pid: 30, comm: 'new', utime: 5000, rssPages: 10, uid: 0 }); // no baseline
    host.process({ pid: 24, comm: 'gone', utime: 10, rssPages: 800_000, status: false }); // exits between stat and status
    host.rm('proc/24/status');
    host.write('proc/31/stat', 'garbage');
    const facts = (await top.collect())!;
    expect(facts.cpu).toEqual(
      [
        { pid: 20, name: 'postgres', user: 'postgres', cpuPercent: 90, rssBytes: 900_000 * 4096 },
        { pid: 21, name: 'nginx', user: 'www-data', cpuPercent: 2, rssBytes: 5000 * 4096 },
        { pid: 10, name: 'kworker/0:1', user: 'root', cpuPercent: 10, rssBytes: 0 },
        { pid: 22, name: 'odd) name (x', user: '4242', cpuPercent: 0.5, rssBytes: 10 * 4096 },
      ].sort((a, b) => b.cpuPercent - a.cpuPercent),
    );
    // 24 had the second-most memory but exited before its status was read: the next in line takes its place.
    expect(facts.memory.map((e) => e.pid)).toEqual([20, 21, 1, 22, 23]);
  });

  it('shares one scan of /proc between system and top in the same collection', async () => {
    host = fakeHost();
    host.process({ pid: 1, comm: 'init', utime: 1, rssPages: 1 });
    const table = new ProcessTable(host.proc);
    let scans = 0;
    const scan = table.scan.bind(table);
    table.scan = () => {
      scans++;
      return scan();
    };
    const reads: Promise<unknown>[] = [];
    const inner = Object.getPrototypeOf(table) as { read: () => Promise<unknown> };
    const read = inner.read;
    let reads0 = 0;
    inner.read = function (this: unknown) {
      reads0++;
      return read.call(this);
    };
    try {
      const system = COLLECTORS.system({ proc: host.proc, run: host.run, processTable: table, exec: commands({}).exec });
      const top = COLLECTORS.top({ proc: host.proc, passwd: host.passwd, processTable: table });
      reads.push(system.collect(), top.collect());
      await Promise.all(reads);
    } finally {
      inner.read = read;
    }
    expect(scans).toBe(2);
    expect(reads0).toBe(1);
  });

  it('lets other work run while it reads thousands of processes', async () => {
    host = fakeHost();
    // 1,000 here to keep the test quick; bench/host-facts.ts measures 5,000 (time and the longest stall).
    for (let pid = 1; pid <= 1000; pid++) host.process({ pid, comm: `p${pid}`, utime: pid, rssPages: pid, status: false });
    const table = new ProcessTable(host.proc);
    let turns = 0;
    let scanning = true;
    const tick = () => {
      turns++;
      if (scanning) setImmediate(tick);
    };
    setImmediate(tick);
    const procs = await table.scan();
    scanning = false;
    expect(procs.length).toBe(1000);
    // Read in chunks of 200 with a turn of the loop between: other callbacks ran during the scan.
    expect(turns).toBeGreaterThanOrEqual(4);
  });
});
