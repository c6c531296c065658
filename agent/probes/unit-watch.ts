import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Logger } from '../../protocol/index.js';
import { childEnv } from '../child-env.js';

/** The unit types systemctl knows by suffix; any other name is a service, as systemctl reads it. */
const UNIT_TYPES = ['service', 'socket', 'device', 'mount', 'automount', 'swap', 'target', 'path', 'timer', 'slice', 'scope'];

/** The unit `systemctl is-active <target>` asks about: "nginx" is "nginx.service". */
export function unitName(target: string): string {
  const dot = target.lastIndexOf('.');
  return dot > 0 && UNIT_TYPES.includes(target.slice(dot + 1)) ? target : `${target}.service`;
}

/**
 * The D-Bus object path systemd gives a unit (its bus_label_escape): every byte other than an
 * ASCII letter or digit becomes "_" and two lowercase hex digits, so "foo-bar.service" is
 * /org/freedesktop/systemd1/unit/foo_2dbar_2eservice.
 */
export function unitPath(unit: string): string {
  let label = '';
  for (const byte of Buffer.from(unit, 'utf8')) {
    const alnum = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a);
    label += alnum ? String.fromCharCode(byte) : `_${byte.toString(16).padStart(2, '0')}`;
  }
  return `/org/freedesktop/systemd1/unit/${label || '_'}`;
}

/** The system bus allows 512 match rules per connection: past this many units, the rest poll. */
export const MAX_UNITS = 256;
/** After the monitor failed, it is started again after this long, doubling up to MAX_BACKOFF_MS. */
const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 60_000;
/** A PropertiesChanged line carries the changed properties: a few KiB. A longer partial line is dropped. */
const MAX_LINE = 1 << 20;

export interface UnitWatcherOptions {
  log: Logger;
  env?: Readonly<Record<string, string>>;
  /** A D-Bus address to watch instead of the system bus (tests: a private dbus-daemon). */
  address?: string;
  /** The monitor program (tests may swap it): busctl, from the systemd package. */
  busctl?: string;
}

/**
 * Learns of a change of a systemd unit the moment systemd announces it: the unit's D-Bus
 * PropertiesChanged signal (ActiveState and SubState change with it). One `busctl monitor` child
 * per agent, with one match per watched unit, prints each signal as a JSON line; `onSignal` gets
 * the probe targets of that unit. The signal is only a trigger — the caller asks systemctl again —
 * so a signal from anyone else (the bus lets any client send one) costs a look, nothing more.
 *
 * busctl rather than a D-Bus library: it is on every host where a systemd probe means anything,
 * it builds no native code, and a child keeps a flood of bus traffic off the agent's event loop.
 * It runs under `setpriv --pdeathsig KILL` (util-linux, Essential on Debian): busctl reads no
 * input, so without it an agent that is killed would leave the monitor running.
 *
 * When the monitor cannot start or dies (no system bus, e.g. in a container) the probes poll
 * (logged once), and the monitor is started again with backoff.
 */
export class UnitWatcher {
  private child?: ChildProcessWithoutNullStreams;
  private readonly byPath = new Map<string, string[]>();
  private timer?: NodeJS.Timeout;
  private backoffMs = MIN_BACKOFF_MS;
  private failing = false;
  private isReady = false;
  private closed = false;
  private readonly log: Logger;

  constructor(
    targets: readonly string[],
    private readonly onSignal: (target: string) => void,
    private readonly opts: UnitWatcherOptions,
  ) {
    this.log = opts.log;
    for (const target of targets) {
      const path = unitPath(unitName(target));
      if (!this.byPath.has(path) && this.byPath.size >= MAX_UNITS) {
        this.log.warn({ unit: target, max: MAX_UNITS }, 'too many watched systemd units: this one polls');
        continue;
      }
      this.byPath.set(path, [...(this.byPath.get(path) ?? []), target]);
    }
  }

  /** The monitor's pid while it runs (for tests and logs). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** True once the monitor said it is watching: a signal sent from then on is seen. */
  get ready(): boolean {
    return this.isReady;
  }

  start(): void {
    if (this.closed || this.child || this.byPath.size === 0) return;
    const bus = this.opts.address !== undefined ? [`--address=${this.opts.address}`] : ['--system'];
    const matches = [...this.byPath.keys()].map(
      (path) => `--match=type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',path='${path}'`,
    );
    const argv = ['--pdeathsig', 'KILL', '--', this.opts.busctl ?? 'busctl', ...bus, 'monitor', '--json=short', ...matches];
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn('setpriv', argv, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...(this.opts.env ?? childEnv(process.env)) } });
    } catch (e) {
      this.failed(`cannot start busctl: ${(e as Error).message}`);
      return;
    }
    this.child = child;
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
        this.line(out.slice(0, nl));
        out = out.slice(nl + 1);
      }
      if (out.length > MAX_LINE) out = '';
    });
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-1000);
      if (!this.isReady && this.child === child && err.includes('Monitoring bus message stream')) {
        err = '';
        this.readyNow();
      }
    });
    child.stdin.end();
    child.once('error', (e: NodeJS.ErrnoException) => this.gone(child, `cannot start setpriv: ${e.code ?? e.message}`));
    child.once('exit', (code, signal) => this.gone(child, `busctl monitor exited (${signal ?? `code ${code}`})${err ? `: ${lastLines(err)}` : ''}`));
    // The monitor must never keep the agent alive; pdeathsig ends it with the agent.
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref?: () => void }).unref?.();
  }

  /** Ends the monitor; no signal is reported after this, and it is not started again. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    const child = this.child;
    this.child = undefined;
    this.isReady = false;
    child?.kill('SIGKILL');
  }

  private readyNow(): void {
    this.isReady = true;
    this.backoffMs = MIN_BACKOFF_MS;
    if (this.failing) this.log.info({ units: this.byPath.size }, 'systemd unit watcher running again: systemd probes react to unit changes');
    this.failing = false;
  }

  private line(line: string): void {
    if (this.closed) return;
    let path: unknown;
    try {
      path = (JSON.parse(line) as { path?: unknown }).path;
    } catch {
      return;
    }
    for (const target of (typeof path === 'string' && this.byPath.get(path)) || []) this.onSignal(target);
  }

  private gone(child: ChildProcessWithoutNullStreams, why: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.isReady = false;
    if (!this.closed) this.failed(why);
  }

  private failed(why: string): void {
    const retryInMs = this.backoffMs;
    this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
    // One clear line when it stops working; the retries that fail again are not news.
    if (!this.failing) this.log.warn({ why, retryInMs }, 'systemd unit watcher unavailable: systemd probes poll');
    else this.log.debug({ why, retryInMs }, 'systemd unit watcher still unavailable');
    this.failing = true;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.start(), retryInMs);
    this.timer.unref();
  }
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-2).join(' / ').slice(0, 300);
}
