import { errorMessage, type Logger, type ServiceFacts } from '../protocol/index.js';
import type { ServiceConfig } from './config.js';
import { PROBES, type Held, type Probe, type ProbeResult } from './probes/index.js';
import { hold as holdHttp } from './probes/http.js';
import { watch as watchPidfile } from './probes/pidfile.js';
import { PidWatcher } from './probes/pid-watch.js';
import { watch as watchProcess } from './probes/process.js';
import { hold as holdTcp } from './probes/tcp.js';
import { UnitWatcher } from './probes/unit-watch.js';

/** Probes that watch the process they found (`"watch": true`), by kind. */
const WATCHES = { process: watchProcess, pidfile: watchPidfile } as const;

/** The wire's limit on a service detail. */
const MAX_DETAIL = 500;
/** Slack on top of a probe's own timeout before the watcher stops waiting for it. */
const PROBE_GRACE_MS = 1000;
/**
 * Looks at once after a held connection closes, as a token bucket: a burst of a few (a dying
 * process may close our connection before its listening socket, so the first look can still
 * connect and is reset a moment later), then at most two a second — a service that closes every
 * connection right away must not be reconnected to in a tight loop.
 */
const HOLD_BURST = 3;
const HOLD_REFILL_PER_MS = 2 / 1000;

export interface ServiceWatcherOptions {
  services: readonly ServiceConfig[];
  /** Called synchronously right after a probe result that changed `up` (and for each first result). */
  onChange: (name: string, facts: ServiceFacts) => void;
  log: Logger;
  now?: () => number;
  /** Probe per kind; tests may swap one in. */
  probes?: Readonly<Record<ServiceConfig['probe']['kind'], Probe>>;
  /** The tcp probe that holds its connection (services with `hold`); tests may swap it. */
  hold?: typeof holdTcp;
  /** The environment of probes that run a command (child-env.ts); default: the allow-listed few. */
  env?: Readonly<Record<string, string>>;
  /** The helper command of the process exit watcher (pid-watch.ts); tests may swap it. */
  pidWatchCommand?: readonly string[];
  /** Where systemd probes with `watch` listen for unit changes (unit-watch.ts): default the system bus; tests use a private one. */
  systemdBus?: { address?: string; busctl?: string };
}

interface Watch {
  service: ServiceConfig;
  facts?: ServiceFacts;
  timer?: NodeJS.Timeout;
  inFlight?: Promise<void>;
  /** The connection a holding probe keeps open until the next look. */
  held?: Held;
  /** Looks left for closes of held connections (see HOLD_BURST), and when it was counted. */
  holdTokens: number;
  holdTokensAt: number;
  /** A look put off until a token is back. */
  holdTimer?: NodeJS.Timeout;
  /** A change was announced while a look was in flight: that look may predate it, so look once more after it. */
  again?: boolean;
  /** Why a holding probe could keep nothing open, once logged. */
  notHeld?: string;
}

/**
 * Probes each service on its own setTimeout chain (the next probe is scheduled when the last
 * one ends, so probes of one service never overlap) and reports every change of `up` at once.
 */
export class ServiceWatcher {
  private readonly watches = new Map<string, Watch>();
  private readonly onChange: ServiceWatcherOptions['onChange'];
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly probes: NonNullable<ServiceWatcherOptions['probes']>;
  private readonly hold: typeof holdTcp;
  private readonly env: Readonly<Record<string, string>> | undefined;
  private readonly pidWatchCommand: readonly string[] | undefined;
  /** Watches the processes of services with `watch`; started with the first such look, ended by stop(). */
  private pidWatcher?: PidWatcher;
  /** Watches the units of systemd services with `watch`, from start() to stop(). */
  private unitWatcher?: UnitWatcher;
  private readonly systemdBus: ServiceWatcherOptions['systemdBus'];
  /** Bumped by start() and stop(): a probe that began in an older generation reports nothing. */
  private generation = 0;
  private running = false;

  constructor(opts: ServiceWatcherOptions) {
    this.onChange = opts.onChange;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.probes = opts.probes ?? PROBES;
    this.hold = opts.hold ?? holdTcp;
    this.env = opts.env;
    this.pidWatchCommand = opts.pidWatchCommand;
    this.systemdBus = opts.systemdBus;
    for (const service of opts.services) this.watches.set(service.name, { service, holdTokens: HOLD_BURST, holdTokensAt: 0 });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.generation++;
    for (const w of this.watches.values()) {
      w.inFlight = undefined;
      void this.tick(w);
    }
    const units = [...this.watches.values()].filter((w) => w.service.probe.kind === 'systemd' && w.service.probe.watch);
    if (units.length > 0) {
      const generation = this.generation;
      const changed = (target: string) => {
        for (const w of units) if (w.service.probe.target === target) this.lost(w, generation, 'the unit changed', 0);
      };
      this.unitWatcher = new UnitWatcher(
        units.map((w) => w.service.probe.target),
        changed,
        { log: this.log, env: this.env, ...this.systemdBus },
      );
      this.unitWatcher.start();
    }
  }

  stop(): void {
    this.running = false;
    this.generation++;
    for (const w of this.watches.values()) {
      clearTimeout(w.timer);
      clearTimeout(w.holdTimer);
      w.timer = undefined;
      w.holdTimer = undefined;
      w.held?.release();
      w.held = undefined;
    }
    this.pidWatcher?.close();
    this.pidWatcher = undefined;
    this.unitWatcher?.close();
    this.unitWatcher = undefined;
  }

  /** The pid of the process exit watcher's helper while it runs (for tests). */
  get pidWatcherPid(): number | undefined {
    return this.pidWatcher?.pid;
  }

  /** The systemd unit watcher's monitor: its pid while it runs, and whether it is watching yet (for tests). */
  get unitWatcherState(): { pid?: number; ready: boolean } {
    return { pid: this.unitWatcher?.pid, ready: this.unitWatcher?.ready ?? false };
  }

  /** The last known state of every service probed at least once. */
  snapshot(): Record<string, ServiceFacts> {
    const out: Record<string, ServiceFacts> = {};
    for (const [name, w] of this.watches) if (w.facts) out[name] = { ...w.facts };
    return out;
  }

  /**
   * Probes now instead of at the next tick (e.g. right after a heal), then carries on with the
   * normal interval. Joins a probe already in flight rather than starting a second one. Never
   * rejects: look() turns every failure to look into a "down".
   */
  async probeNow(name?: string): Promise<void> {
    if (!this.running) return;
    const targets = name === undefined ? [...this.watches.values()] : [this.watches.get(name)].filter((w) => w !== undefined);
    await Promise.all(targets.map((w) => w.inFlight ?? this.tick(w)));
  }

  private tick(w: Watch): Promise<void> {
    clearTimeout(w.timer);
    w.timer = undefined;
    const generation = this.generation;
    const run = (async () => {
      const result = await this.look(w, generation);
      if (generation !== this.generation) {
        result.held?.release();
        return;
      } // stopped (or restarted) meanwhile
      w.inFlight = undefined;
      // The newest look's connection replaces the last one; a look that failed holds nothing.
      w.held?.release();
      w.held = result.held;
      this.record(w, result);
      if (w.again) {
        w.again = false;
        w.timer = setTimeout(() => void this.tick(w), 0);
      } else {
        w.timer = setTimeout(() => void this.tick(w), w.service.probeIntervalMs);
      }
    })();
    w.inFlight = run;
    return run;
  }

  /**
   * A held connection closed: the service may have died, or just closed an idle connection.
   * Look again at once — a fresh connect that fails is the confirmed fault, reported now
   * rather than at the next probe; one that succeeds is held in turn and nothing is reported.
   */
  private lost(w: Watch, generation: number, why: string, heldMs: number): void {
    if (generation !== this.generation || !this.running) return;
    const now = performance.now();
    w.holdTokens = Math.min(HOLD_BURST, w.holdTokens + (now - w.holdTokensAt) * HOLD_REFILL_PER_MS);
    w.holdTokensAt = now;
    if (w.holdTokens >= 1) {
      w.holdTokens -= 1;
      this.log.debug({ service: w.service.name, why, heldMs: Math.round(heldMs) }, 'held connection lost (or unit changed): probing again now');
      if (w.inFlight) w.again = true;
      else void this.tick(w);
      return;
    }
    if (w.holdTimer) return;
    const wait = Math.ceil((1 - w.holdTokens) / HOLD_REFILL_PER_MS);
    this.log.debug({ service: w.service.name, why, heldMs: Math.round(heldMs), wait }, 'held connections keep closing: probing again shortly');
    w.holdTimer = setTimeout(() => {
      w.holdTimer = undefined;
      this.lost(w, generation, why, heldMs);
    }, wait);
  }

  private async look(w: Watch, generation: number): Promise<ProbeResult> {
    const service = w.service;
    const { kind, target } = service.probe;
    const limit = service.probeTimeoutMs + PROBE_GRACE_MS;
    let timer: NodeJS.Timeout | undefined;
    let late = false;
    try {
      // Inside the try: a probe that throws rather than rejects is a "down" too, so tick() never
      // rejects (a rejected tick schedules no next one: the service would go unwatched for good).
      const onLost = (why: string, heldMs: number) => this.lost(w, generation, why, heldMs);
      const looking =
        service.probe.hold && kind === 'tcp'
          ? this.hold(target, service.probeTimeoutMs, onLost)
          : service.probe.watch && (kind === 'process' || kind === 'pidfile')
            ? WATCHES[kind](target, service.probeTimeoutMs, (this.pidWatcher ??= new PidWatcher(this.log, this.env, this.pidWatchCommand)), onLost)
            : service.probe.watch && kind === 'http'
              ? holdHttp(target, service.probeTimeoutMs, service.probe.http, onLost)
              : this.probes[kind](target, service.probeTimeoutMs, this.env, service.probe.http);
      // A probe that answers after the watcher gave up on it must not leave a connection open.
      void looking.then(
        (r) => {
          if (late) r.held?.release();
        },
        () => undefined,
      );
      return await Promise.race([
        looking,
        new Promise<ProbeResult>((resolve) => {
          timer = setTimeout(() => {
            late = true;
            resolve({ up: false, detail: `${kind} probe did not finish within ${limit}ms` });
          }, limit);
        }),
      ]);
    } catch (e) {
      return { up: false, detail: `${kind} probe failed: ${errorMessage(e)}` };
    } finally {
      clearTimeout(timer);
    }
  }

  private record(w: Watch, result: ProbeResult): void {
    const name = w.service.name;
    if (result.notHeld !== undefined && w.notHeld === undefined) {
      this.log.info({ service: name, why: result.notHeld }, 'cannot hold a connection to this service: it is polled');
    }
    if (result.up) w.notHeld = result.notHeld;
    const detail = result.detail?.slice(0, MAX_DETAIL);
    const changed = w.facts === undefined || w.facts.up !== result.up;
    const since = changed ? Math.floor(this.now()) : w.facts!.since;
    w.facts = {
      up: result.up,
      since,
      ...(detail !== undefined ? { detail } : {}),
      ...(result.latencyMs !== undefined && Number.isFinite(result.latencyMs) ? { latencyMs: result.latencyMs } : {}),
      ...(result.status !== undefined && Number.isSafeInteger(result.status) ? { status: result.status } : {}),
    };
    if (!changed) return;
    this.log.debug({ service: name, up: result.up, detail }, 'service state changed');
    try {
      this.onChange(name, { ...w.facts });
    } catch (e) {
      this.log.error({ service: name, err: errorMessage(e) }, 'service change handler failed');
    }
  }
}
