/**
 * Monit (Debian package `monit`) run by hand: `monit -c <rc> -I` in the foreground with its
 * own rc, state, id and log files in a scratch folder — never /etc/monit or its service.
 * Each dummy service is watched either as a `check process … with pidfile` (Monit's usual way:
 * it starts the service when the process is not running) or as a `check host … if failed port`
 * that runs the start program (which does not depend on the dead process being reaped). The
 * start program is the same one laas runs (demo-start.sh), so both restart the same way.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { anchorBin, BINS, removeDir, run, scratch, until, type Child, type DemoService } from './common.js';

export interface Monit {
  readonly proc: Child;
  readonly dir: string;
  stop(): Promise<void>;
}

/** Quotes a word for monitrc's "…" strings (which take no escapes: refuse what would break them). */
function word(s: string): string {
  if (/["\s]/.test(s)) throw new Error(`monit: cannot quote ${JSON.stringify(s)} in a start program`);
  return s;
}

export async function startMonit(opts: { daemonSeconds: number; services: DemoService[]; check?: 'process' | 'port' }): Promise<Monit> {
  const bin = anchorBin('monit', [...BINS.monit]);
  const dir = scratch('monit');
  const rc = join(dir, 'monitrc');
  const lines = [
    `set daemon ${opts.daemonSeconds}`,
    `set logfile ${join(dir, 'monit.log')}`,
    `set pidfile ${join(dir, 'monit.pid')}`,
    `set idfile ${join(dir, 'monit.id')}`,
    `set statefile ${join(dir, 'monit.state')}`,
    '',
  ];
  for (const s of opts.services) {
    const start = s.start.map(word).join(' ');
    lines.push(
      ...(opts.check === 'port'
        ? [`check host ${s.name} with address 127.0.0.1`, `  if failed port ${s.port} type tcp then exec "${start}"`]
        : [`check process ${s.name} with pidfile ${s.pidfile}`, `  start program = "${start}" with timeout 10 seconds`]),
      '',
    );
  }
  writeFileSync(rc, lines.join('\n'));
  chmodSync(rc, 0o600); // monit refuses a control file others can read
  const proc = run(bin, ['-c', rc, '-I']);
  await until(
    'monit running',
    () => {
      if (proc.child.exitCode !== null) throw new Error(`monit exited ${proc.child.exitCode}: ${proc.output()}`);
      return proc.child.pid !== undefined;
    },
    5000,
  );
  return {
    proc,
    dir,
    async stop() {
      await proc.stop();
      removeDir(dir);
    },
  };
}
