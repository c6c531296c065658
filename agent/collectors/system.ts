import { access, readFile } from 'node:fs/promises';
import { parseVmstat } from './memory.js';
import { ProcessTable } from './proc-table.js';
import { Periodic, parseChronyOffsetMs, parseFailedUnits, parseSynchronized, runCommand, systemdBooted } from './system-commands.js';
import type { Collector, CollectorOptions, Facts } from './types.js';

type SystemFacts = Facts<'system'>;

/** /proc/net/snmp's Tcp table: a header line of names, then a line of values. */
export function parseSnmpTcp(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const lines = text.split('\n').filter((l) => l.startsWith('Tcp:'));
  if (lines.length < 2) return out;
  const names = lines[0].split(/\s+/).slice(1);
  const values = lines[1].split(/\s+/).slice(1).map(Number);
  names.forEach((n, i) => {
    if (Number.isFinite(values[i])) out.set(n, values[i]);
  });
  return out;
}

/** /proc/sys/fs/file-nr: allocated, free (always 0 since 2.6), max. */
export function parseFileNr(text: string): Pick<SystemFacts, 'fdUsed' | 'fdMax' | 'fdUsedPercent'> {
  const [allocated, free, max] = text.trim().split(/\s+/).map(Number);
  if (!Number.isSafeInteger(allocated) || !Number.isSafeInteger(free) || free > allocated) return {};
  const used = allocated - free;
  // systemd ≥ 240 sets fs.file-max to LONG_MAX: no safe integer, and no limit worth a percentage.
  if (!Number.isSafeInteger(max) || max <= 0) return { fdUsed: used };
  return { fdUsed: used, fdMax: max, fdUsedPercent: Math.round((10_000 * used) / max) / 100 };
}

const whole = (n: number | undefined) => (n !== undefined && Number.isSafeInteger(n) && n >= 0 ? n : undefined);

/**
 * Whole-host facts from procfs, each left out when its file cannot be read or parsed. Failed units
 * and clock sync have no file to read (systemd keeps them behind D-Bus, adjtimex has no Node
 * binding): they come from systemctl/timedatectl/chronyc at most once a minute (system-commands.ts).
 */
export function createSystemCollector(opts: CollectorOptions = {}): Collector<'system'> {
  const proc = opts.proc ?? (process.platform === 'linux' ? '/proc' : undefined);
  const run = opts.run ?? '/run';
  const now = opts.now ?? Date.now;
  const exec = opts.exec ?? runCommand;
  const table = opts.processTable ?? (proc ? new ProcessTable(proc) : undefined);
  let prevRetrans: { at: number; segs: number } | undefined;
  const failedUnits = new Periodic(
    async () =>
      (await systemdBooted(run))
        ? parseFailedUnits(await exec('systemctl', ['list-units', '--state=failed', '--plain', '--no-legend', '--no-pager']))
        : undefined,
    now,
  );
  const synced = new Periodic(
    async () => ((await systemdBooted(run)) ? parseSynchronized(await exec('timedatectl', ['show', '--property=NTPSynchronized', '--value'])) : undefined),
    now,
  );
  const offset = new Periodic(async () => parseChronyOffsetMs(await exec('chronyc', ['-c', 'tracking'])), now);
  const read = (file: string) => readFile(file, 'utf8').catch(() => undefined);
  const exists = (file: string) =>
    access(file).then(
      () => true,
      () => false,
    );

  return {
    name: 'system',
    async collect(): Promise<SystemFacts | undefined> {
      if (!proc) return undefined;
      try {
        const [uptime, vmstat, fileNr, snmp, procs, reboot, units, isSynced, offsetMs] = await Promise.all([
          read(`${proc}/uptime`),
          read(`${proc}/vmstat`),
          read(`${proc}/sys/fs/file-nr`),
          read(`${proc}/net/snmp`),
          table?.scan().catch(() => undefined),
          // Debian and Ubuntu's marker (update-notifier, unattended-upgrades); /var/run is /run on current systems.
          Promise.all([exists(`${run}/reboot-required`), opts.run ? false : exists('/var/run/reboot-required')]).then(([a, b]) => a || b),
          failedUnits.get(),
          synced.get(),
          offset.get(),
        ]);
        const out: SystemFacts = {};
        const up = Number(uptime?.split(' ')[0]);
        if (uptime && Number.isFinite(up) && up >= 0) out.uptimeSec = Math.round(up);
        out.rebootRequired = reboot;
        if (procs) {
          out.processes = procs.length;
          out.zombies = procs.filter((p) => p.state === 'Z').length;
        }
        if (fileNr) Object.assign(out, parseFileNr(fileNr));
        const oom = whole(vmstat ? parseVmstat(vmstat).get('oom_kill') : undefined);
        if (oom !== undefined) out.oomKills = oom;
        const tcp = snmp ? parseSnmpTcp(snmp) : undefined;
        const estab = whole(tcp?.get('CurrEstab'));
        if (estab !== undefined) out.tcpEstablished = estab;
        const segs = whole(tcp?.get('RetransSegs'));
        const at = now();
        const before = prevRetrans;
        prevRetrans = segs === undefined ? undefined : { at, segs };
        // A rate needs two readings; a counter that went down (it wraps at 2^32 on some kernels) gives none this time.
        if (before && segs !== undefined && at > before.at && segs >= before.segs)
          out.tcpRetransPerSec = Math.round(((segs - before.segs) * 100_000) / (at - before.at)) / 100;
        if (units) out.failedUnits = units;
        if (isSynced !== undefined) out.clockSynced = isSynced;
        if (offsetMs !== undefined) out.clockOffsetMs = offsetMs;
        return out;
      } catch {
        return undefined;
      }
    },
  };
}
