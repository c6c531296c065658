import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceConfig } from '../../../agent/config.js';
import { unitName, unitPath } from '../../../agent/probes/unit-watch.js';
import { ServiceWatcher } from '../../../agent/services.js';
import { silentLogger, type Logger, type ServiceFacts } from '../../../protocol/index.js';
import { onPath } from '../../helpers/procs.js';

/**
 * systemd probes with `"watch": true` look again when the unit's D-Bus PropertiesChanged signal
 * arrives. There is no systemd here (nor, in CI, a system bus): the signal goes through a private
 * dbus-daemon that `busctl monitor` (the real watcher) listens on, sent by `busctl emit` on the
 * unit's object path; the probe is the real systemd probe, running a stand-in `systemctl` that
 * answers from a state file. Services are probed once a minute, so a change that arrives during a
 * test can only have come from the signal: the assertions are on order, never on a duration.
 */
function missing(): string | undefined {
  const need = ['dbus-daemon', 'busctl', 'setpriv'].filter((b) => !onPath(b));
  if (need.length === 0) return undefined;
  if (process.env.CI) throw new Error(`CI: the systemd unit watcher tests need ${need.join(', ')} (dbus-daemon, systemd, util-linux)`);
  return `${need.join(', ')} not found`;
}
const skip = missing();
if (skip) process.stderr.write(`skipping the systemd unit watcher tests: ${skip}\n`);

const MINUTE = 60_000;
const dir = mkdtempSync(join(tmpdir(), 'laas-unit-watch-'));
const bus = `unix:path=${join(dir, 'bus')}`;
const bin = join(dir, 'bin');
const states = join(dir, 'states');
const calls = join(dir, 'calls');
let daemon: ChildProcess | undefined;
const watchers: ServiceWatcher[] = [];
// The probe's environment: a systemctl that answers `is-active <unit>` from states/<unit> and logs each call.
const env = { PATH: `${bin}:${process.env.PATH}`, UNIT_STATES: states, UNIT_CALLS: calls };

beforeAll(async () => {
  if (skip) return;
  mkdirSync(bin);
  mkdirSync(states);
  writeFileSync(
    join(bin, 'systemctl'),
    // "nginx" is nginx.service, as systemctl reads it (the tests use no other dotted names).
    '#!/bin/sh\nu="$2"\ncase "$u" in *.*) ;; *) u="$u.service" ;; esac\necho "$u" >> "$UNIT_CALLS"\n' +
      'state=$(cat "$UNIT_STATES/$u" 2>/dev/null || echo inactive)\necho "$state"\n[ "$state" = active ]\n',
  );
  chmodSync(join(bin, 'systemctl'), 0o755);
  daemon = spawn('dbus-daemon', ['--session', `--address=${bus}`, '--nofork', '--print-address=1'], { stdio: ['ignore', 'pipe', 'ignore'] });
  // It prints its address once it listens.
  await new Promise<void>((resolve, reject) => {
    daemon!.stdout!.once('data', () => resolve());
    daemon!.once('exit', (code) => reject(new Error(`dbus-daemon exited (${code})`)));
  });
});
afterEach(() => {
  for (const w of watchers.splice(0)) w.stop();
});
afterAll(() => {
  daemon?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms}ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const setState = (unit: string, state: string) => writeFileSync(join(states, unitName(unit)), `${state}\n`);
/** What systemd sends when a unit's state changes, sent here by anybody on the private bus. */
function emit(unit: string): void {
  const args = [`--address=${bus}`, 'emit', unitPath(unitName(unit)), 'org.freedesktop.DBus.Properties', 'PropertiesChanged'];
  execFileSync('busctl', [...args, 'sa{sv}as', 'org.freedesktop.systemd1.Unit', '1', 'ActiveState', 's', 'changed', '0']);
}
/** Whether `pid` no longer runs: gone, or a zombie nobody reaps. */
function ended(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return true;
  }
}
const probed = () => (existsSync(calls) ? readFileSync(calls, 'utf8').split('\n').filter(Boolean) : []);

function watch(services: ServiceConfig[], opts: { log?: Logger; address?: string } = {}) {
  const changes: { name: string; facts: ServiceFacts }[] = [];
  const w = new ServiceWatcher({
    services,
    env,
    log: opts.log ?? silentLogger,
    onChange: (name, facts) => changes.push({ name, facts }),
    systemdBus: { address: opts.address ?? bus },
  });
  watchers.push(w);
  w.start();
  return { w, changes };
}
const svc = (name: string, unit: string, probeIntervalMs = MINUTE): ServiceConfig => ({
  name,
  probe: { kind: 'systemd', target: unit, watch: true },
  probeIntervalMs,
  probeTimeoutMs: 2000,
});
function recording(): { log: Logger; warnings: { why?: string }[] } {
  const warnings: { why?: string }[] = [];
  const log = { ...silentLogger, warn: (o: { why?: string }) => warnings.push(o), child: () => log } as Logger;
  return { log, warnings };
}

describe('systemd unit object paths', () => {
  it('are escaped as systemd escapes them', () => {
    expect(unitName('nginx')).toBe('nginx.service');
    expect(unitName('nginx.service')).toBe('nginx.service');
    expect(unitName('backup.timer')).toBe('backup.timer');
    expect(unitName('foo.bar')).toBe('foo.bar.service');
    expect(unitPath('nginx.service')).toBe('/org/freedesktop/systemd1/unit/nginx_2eservice');
    expect(unitPath('getty@tty1.service')).toBe('/org/freedesktop/systemd1/unit/getty_40tty1_2eservice');
    expect(unitPath('systemd-journald.service')).toBe('/org/freedesktop/systemd1/unit/systemd_2djournald_2eservice');
    expect(unitPath('dev-disk-by\\x2duuid-1.device')).toBe('/org/freedesktop/systemd1/unit/dev_2ddisk_2dby_5cx2duuid_2d1_2edevice');
    expect(unitPath('my_app:1.service')).toBe('/org/freedesktop/systemd1/unit/my_5fapp_3a1_2eservice');
    expect(unitPath('é.service')).toBe('/org/freedesktop/systemd1/unit/_c3_a9_2eservice');
    expect(unitPath('')).toBe('/org/freedesktop/systemd1/unit/_');
  });
});

describe.skipIf(skip !== undefined)('systemd probes watching the unit', () => {
  it('look again when the unit changes, and only for the unit that changed', async () => {
    setState('web-app', 'active');
    setState('other', 'active');
    const { w, changes } = watch([svc('web', 'web-app'), svc('other', 'other.service')]);
    await until('both up', () => changes.length === 2);
    expect(changes.map((c) => c.facts.up)).toEqual([true, true]);
    await until('the monitor watching', () => w.unitWatcherState.ready);
    setState('web-app', 'failed');
    emit('web-app');
    await until('web down', () => changes.length === 3);
    expect(changes[2]).toMatchObject({ name: 'web', facts: { up: false, detail: 'failed' } });
    // A signal for a unit nobody watches, then one for "other": only the latter is looked at.
    const before = probed().length;
    setState('other', 'inactive');
    emit('unwatched');
    emit('other');
    await until('other down', () => changes.length === 4);
    expect(changes[3]).toMatchObject({ name: 'other', facts: { up: false, detail: 'inactive' } });
    expect(probed().slice(before)).toEqual(['other.service']);
    setState('web-app', 'active');
    emit('web-app');
    await until('web up again', () => changes.length === 5);
    expect(changes[4]).toMatchObject({ name: 'web', facts: { up: true } });
  });

  it('polls when there is no bus to watch, and says so once', async () => {
    setState('nobus', 'active');
    const { log, warnings } = recording();
    const { w, changes } = watch([svc('nobus', 'nobus', 300)], { log, address: `unix:path=${join(dir, 'no-such-bus')}` });
    await until('up', () => changes.length === 1);
    await until('warned', () => warnings.length === 1);
    expect(warnings[0].why).toMatch(/busctl monitor exited \(code 1\).*Failed to connect to bus/);
    setState('nobus', 'failed');
    await until('down by polling', () => changes.length === 2);
    expect(changes[1].facts).toMatchObject({ up: false, detail: 'failed' });
    // Its retries (1 s, then 2 s) fail too, without another warning.
    await until('retried', () => w.unitWatcherState.pid !== undefined, 5000).catch(() => undefined);
    expect(warnings).toHaveLength(1);
  });

  it('starts the monitor again after it dies, and ends it when stopped', async () => {
    setState('again', 'active');
    const { log, warnings } = recording();
    const { w, changes } = watch([svc('again', 'again')], { log });
    await until('up', () => changes.length === 1);
    await until('the monitor watching', () => w.unitWatcherState.ready);
    const first = w.unitWatcherState.pid!;
    process.kill(first, 'SIGKILL');
    await until('the death noticed', () => warnings.length === 1);
    expect(warnings[0].why).toBe('busctl monitor exited (SIGKILL)');
    await until('the monitor watching again', () => w.unitWatcherState.ready);
    const second = w.unitWatcherState.pid!;
    expect(second).not.toBe(first);
    setState('again', 'failed');
    emit('again');
    await until('down', () => changes.length === 2);
    expect(changes[1].facts).toMatchObject({ up: false, detail: 'failed' });
    w.stop();
    await until('the monitor ended', () => ended(second));
    expect(w.unitWatcherState).toEqual({ pid: undefined, ready: false });
  });

  it('leaves no monitor behind when the agent is killed', async () => {
    // The built watcher (npm test builds first) in a process of its own, killed as an agent would be.
    const code = `import { UnitWatcher } from ${JSON.stringify(join(process.cwd(), 'dist/agent/probes/unit-watch.js'))};
      const log = { debug() {}, info() {}, warn() {}, error() {}, child: () => log };
      const u = new UnitWatcher(['x'], () => {}, { log, address: ${JSON.stringify(bus)} });
      u.start();
      const t = setInterval(() => { if (u.ready) { console.log(u.pid); clearInterval(t); } }, 5);
      setInterval(() => {}, 1000);`;
    const agent = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const monitor = await new Promise<number>((resolve, reject) => {
        agent.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
        agent.once('exit', (c) => reject(new Error(`watcher process exited (${c})`)));
      });
      expect(readFileSync(`/proc/${monitor}/stat`, 'utf8')).toContain('(busctl)');
      agent.kill('SIGKILL');
      // Gone, or a zombie nobody reaps (its parent was the agent): either way no longer running.
      await until('the monitor ended', () => ended(monitor));
    } finally {
      agent.kill('SIGKILL');
    }
  });
});
