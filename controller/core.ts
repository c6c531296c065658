import { LAAS_VERSION, type Hello, type Logger, type Result, type Run, type Sample, type Welcome } from '../protocol/index.js';
import type { Inhibition } from './alerts/inhibit.js';
import type { Maintenance } from './alerts/maintenance.js';
import type { Route } from './alerts/routes.js';
import { AlertService, HOST_DOWN } from './alerts/service.js';
import type { Clock } from './clock.js';
import { soloFleet, type Fleet } from './fleet.js';
import { HealService } from './heal/service.js';
import { HostRegistry } from './hosts/registry.js';
import type { Metrics } from './metrics.js';
import type { Evidence } from './alerts/state-machine.js';
import type { AlertRecord, NotificationLogEntry } from './model.js';
import type { Notification } from './notify/index.js';
import { FleetRules } from './fleet-rules.js';
import { ControllerFactsReader, type ControllerFacts } from './self-facts.js';
import { SelfRules } from './self-rules.js';
import { Evaluator, factsOf, selects, type HostView } from './rules/evaluate.js';
import type { Rule } from './rules/schema.js';
import { Windows } from './rules/windows/store.js';
import type { Store } from './store/store.js';

export { HOST_DOWN } from './alerts/service.js';

/** Sweeps are a second apart; twice that without one means the controller was not running. */
const SWEEP_MS = 1_000;
const STALL_MS = 2 * SWEEP_MS;

export interface CoreDeps {
  store: Store;
  metrics: Metrics;
  log: Logger;
  clock: Clock;
  /** Receivers the config defines; host-down goes to all of them. */
  receivers: ReadonlySet<string>;
  send: (host: string, run: Run) => boolean;
  requestSample: (host: string) => void;
  deliver: (n: Notification) => void;
  hostDownAfterMs: number;
  fleetLimit?: number | string;
  externalUrl: () => string;
  /** The routing tree (receivers by labels, grouping); rules may also name receivers. */
  route?: Route;
  maintenance?: Maintenance;
  /** controller.json `inhibit`. */
  inhibit?: readonly Inhibition[];
  /** The notification log: muted pages are recorded here. */
  logNotification?: (entry: NotificationLogEntry) => void;
  resolveWaitMs?: number;
  /** Several controllers on one database (controller/cluster); one controller when absent. */
  fleet?: Fleet;
  /** Every sample that reaches the rules, after /metrics has it (remote-write). */
  onFacts?: (host: string, sample: Sample) => void;
  /** The `controller` fact for rules with `"scope": "controller"` (default: read from metrics and hosts; `laas rules test` gives its timeline's). */
  controllerFacts?: (now: number) => ControllerFacts;
  /** Windowed conditions' history, when the caller keeps it across restarts (main.ts: a snapshot, Prometheus); else a new one. */
  windows?: Windows;
}

/**
 * The controller's core: it wires what agents send to what is decided — host records, rules,
 * alerts, heals — and nothing else. Samples go to the rules; each verdict moves the alert (and
 * its notifications) and, when a fault starts, comes back or clears, the heal. It knows no
 * sockets or HTTP: instructions and notifications leave through the functions it is given, so
 * `laas rules test` replays exactly this code on a simulated clock.
 */
export class Core {
  readonly hosts: HostRegistry;
  readonly alerting: AlertService;
  readonly heal: HealService;
  readonly fleet: Fleet;
  private rules: readonly Rule[] = [];
  private readonly ruleById = new Map<string, Rule>();
  /** Heals held back by a parent alert (rule and host → when the fault was seen), retried each sweep. */
  private readonly inhibitedHeals = new Map<string, number | undefined>();
  /** Windowed conditions' history: kept across rule reloads for the paths still read. */
  private readonly windows: Windows;
  private evaluator: Evaluator;
  private readonly fleetRules: FleetRules;
  /** Rules on the controller's own health; not with several controllers (each would raise the one "controller" alert). */
  private readonly selfRules: SelfRules | undefined;
  /** Rule and host pairs whose condition held at the last sample (to see it clear, or come back). */
  private readonly holding = new Set<string>();
  private lastSweepAt: number | undefined;
  /** The agent-clock time of the newest sample evaluated per host (the same clock: skew does not matter). */
  private readonly newestSample = new Map<string, number>();

  private constructor(private readonly deps: CoreDeps) {
    this.windows = deps.windows ?? new Windows();
    this.evaluator = new Evaluator([], this.windows);
    this.hosts = new HostRegistry({
      store: deps.store,
      metrics: deps.metrics,
      clock: () => deps.clock.now(),
      downAfterMs: deps.hostDownAfterMs,
      startedAt: deps.clock.now(),
    });
    this.fleet = deps.fleet ?? soloFleet(this.hosts);
    this.alerting = new AlertService({
      store: deps.store,
      metrics: deps.metrics,
      log: deps.log,
      clock: deps.clock,
      receivers: deps.receivers,
      deliver: deps.deliver,
      externalUrl: deps.externalUrl,
      route: deps.route,
      maintenance: deps.maintenance,
      inhibit: deps.inhibit,
      logNotification: deps.logNotification,
      resolveWaitMs: deps.resolveWaitMs,
      rule: (id) => this.ruleById.get(id),
      host: (id) => this.hosts.get(id),
    });
    this.heal = new HealService({
      store: deps.store,
      metrics: deps.metrics,
      log: deps.log,
      clock: deps.clock,
      send: deps.send,
      requestSample: deps.requestSample,
      isConnected: (host) => this.hosts.get(host)?.connected ?? false,
      notify: (order, kind, text) => this.alerting.healNotice(order, kind, text),
      hostsSelected: (rule) => this.hosts.count((h) => selects(rule, h)),
      fleetSize: () => this.fleet.size(),
      fleetLimit: deps.fleetLimit,
      ...(this.fleet.decide ? { fleet: { decide: this.fleet.decide.bind(this.fleet), freed: this.fleet.freed?.bind(this.fleet) } } : {}),
      retry: (rule, host) => this.retryDeferred(rule, host),
      hold: (rule, host) => this.alerting.healHold(rule, host),
    });
    this.fleetRules = new FleetRules({ alerting: this.alerting, heal: this.heal, metrics: deps.metrics });
    const reader = new ControllerFactsReader(deps.metrics, () => this.hosts.list(), deps.clock.now());
    this.selfRules = deps.fleet
      ? undefined
      : new SelfRules({ alerting: this.alerting, metrics: deps.metrics, read: deps.controllerFacts ?? ((now) => reader.read(now)) });
    // A heal that ended on another controller freed a slot its waiting heals here may take.
    this.fleet.onFreed?.(() => this.heal.slotFreed());
  }

  static async create(deps: CoreDeps): Promise<Core> {
    const core = new Core(deps);
    const owns = (host: string) => core.fleet.owns(host);
    await core.hosts.restore(owns);
    await core.alerting.restore(owns);
    // Whose condition held when the controller stopped: so the first fresh sample after a restart
    // can see it clear (samples buffered meanwhile are not evaluated and cannot tell).
    core.holdingFrom(core.alerting.list());
    await core.heal.restore(owns);
    return core;
  }

  get ruleSet(): readonly Rule[] {
    return this.rules;
  }

  rule(id: string): Rule | undefined {
    return this.ruleById.get(id);
  }

  /** Applies a new, valid rule set; alerts of rules that are gone resolve. */
  setRules(next: readonly Rule[]): void {
    this.alerting.rulesChanged(next);
    this.rules = next;
    this.ruleById.clear();
    for (const r of next) this.ruleById.set(r.id, r);
    this.evaluator = new Evaluator(next, this.windows);
    this.fleetRules.setRules(next, this.windows);
    this.selfRules?.setRules(next, this.windows);
    this.heal.setRules(next);
    this.deps.metrics.rulesLoaded.set(next.length);
    // Counters exist from their first increment; start each heal rule's at 0 so rate() and
    // increase() see its first heal (Prometheus cannot see a series appear at 1 as a rise).
    for (const r of next) {
      for (const step of r.heal?.steps ?? []) {
        for (const outcome of ['succeeded', 'failed']) this.deps.metrics.healActions.inc({ rule: r.id, action: step.action, outcome }, 0);
      }
    }
  }

  // --- what agents send ---

  async hello(hello: Hello): Promise<Welcome> {
    const host = await this.hosts.connected(hello);
    // A restarted agent forgot what it was running: say so now rather than wait for a timeout.
    if (host.restarted) await this.heal.agentRestarted(host.id, new Set(hello.results ?? []));
    return { hostId: hello.agentId, controllerVersion: LAAS_VERSION };
  }

  /** The welcome is out: instructions that never reached the host go again. */
  connected(host: string): void {
    this.heal.resend(host);
  }

  async disconnected(host: string): Promise<void> {
    await this.hosts.disconnected(host);
  }

  async sample(hostId: string, sample: Sample): Promise<void> {
    const now = this.deps.clock.now();
    const host = this.hosts.get(hostId);
    if (!host) return;
    this.deps.metrics.samplesReceived.inc({ trigger: sample.trigger });
    // Any sample that arrives is a sign of life now, late or not.
    if (await this.hosts.seen(hostId, now)) this.alerting.hostBack(hostId, now);
    // A sample held back during an outage, or older than one already seen, tells what was, not
    // what is: counted, but it neither moves alerts nor heals (that would flap on old news).
    const newest = this.newestSample.get(hostId) ?? 0;
    if (sample.buffered || sample.ts < newest) {
      this.deps.metrics.samplesLate.inc({ reason: sample.buffered ? 'buffered' : 'out-of-order' });
      return;
    }
    this.newestSample.set(hostId, sample.ts);
    this.deps.metrics.facts.record(hostId, sample);
    this.deps.onFacts?.(hostId, sample);
    const view: HostView = { id: host.id, labels: host.labels, agentVersion: host.agentVersion };
    const started = performance.now();
    const facts = factsOf(view, sample);
    const { verdicts, matches, insufficient } = await this.evaluator.evaluate(view, facts, now);
    for (const id of insufficient) this.deps.metrics.rulesNotEnoughData.inc({ rule: id });
    this.deps.metrics.ruleEvalSeconds.observe((performance.now() - started) / 1000);
    // The agent's sample time marks the fault, unless its clock is clearly off.
    const faultAt = Math.abs(sample.ts - now) < 60_000 ? Math.min(sample.ts, now) : now;
    for (const [ruleId, holds] of verdicts) {
      const rule = this.ruleById.get(ruleId);
      if (rule) await this.verdict(rule, view, holds, now, faultAt, { facts, match: matches.get(ruleId) ?? [] });
    }
    await this.fleetRules.sample(view, facts, now);
    const end = this.deps.clock.now();
    if (Math.abs(sample.ts - end) < 60_000) this.deps.metrics.sampleDecisionSeconds.observe(Math.max(0, end - sample.ts) / 1000);
  }

  async ack(host: string, id: string): Promise<void> {
    await this.heal.onAck(host, id);
  }

  async result(host: string, result: Result): Promise<boolean> {
    return this.heal.onResult(host, result);
  }

  /** Once a second: silent hosts go down (host-down fires); held alerts whose hold ran out resolve. */
  async sweep(): Promise<void> {
    const now = this.deps.clock.now();
    // A gap between sweeps means the controller itself stopped (SIGSTOP, a paused VM, a blocked
    // loop): it heard nothing because it was not listening. Its silence is not the hosts'.
    const gap = this.lastSweepAt === undefined ? 0 : now - this.lastSweepAt;
    this.lastSweepAt = now;
    if (gap > STALL_MS) {
      this.hosts.excuse();
      this.deps.log.warn({ stalledMs: gap }, 'the controller was stalled; every host gets its full host-down time again');
    }
    for (const h of await this.hosts.sweep(now)) {
      this.alerting.hostDown({ id: h.id, labels: h.labels }, now);
      await this.fleetRules.hostDown({ id: h.id, labels: h.labels, agentVersion: h.agentVersion }, now);
    }
    await this.selfRules?.tick(now);
    this.alerting.tick(now);
    await this.releaseInhibitedHeals();
    const w = this.windows.sweep(now);
    if (w) {
      this.deps.metrics.ruleWindowSeries.set(w.series);
      this.deps.metrics.ruleWindowBytes.set(w.bytes);
    }
  }

  /**
   * A scheduled rule's turn: its steps run on every connected host it selects, at most
   * maxConcurrent at a time (the rest wait their turn). No host selected means nothing runs.
   */
  async runSchedule(ruleId: string, fireAt?: string): Promise<{ hosts: string[] }> {
    const rule = this.ruleById.get(ruleId);
    if (!rule?.heal || !rule.schedule) return { hosts: [] };
    let hosts = this.hosts
      .list()
      .filter((h) => h.connected && selects(rule, h))
      .map((h) => h.id)
      .sort();
    // Several controllers: each runs its own hosts, and a host that moved mid-tick runs once.
    if (fireAt) hosts = await this.fleet.claimRuns(rule.id, fireAt, hosts);
    if (hosts.length === 0) {
      this.deps.metrics.schedulesRun.inc({ rule: rule.id, outcome: 'no-hosts' });
      this.deps.log.warn({ rule: rule.id }, 'scheduled rule selects no connected host; nothing run');
      return { hosts };
    }
    this.deps.metrics.schedulesRun.inc({ rule: rule.id, outcome: 'started' });
    await this.heal.runSchedule(rule, hosts);
    return { hosts };
  }

  // --- several controllers (controller/cluster) ---

  /** Another controller now holds the host's link: its alerts and work orders are carried on there. */
  async releaseHost(host: string): Promise<{ heals: string[]; alerts: number }> {
    const heals = this.heal.release(host);
    const alerts = this.alerting.release(host);
    await this.fleetRules.hostGone(host, this.deps.clock.now());
    this.hosts.forget(host);
    for (const k of [...this.holding]) if (k.endsWith(`\u0000${host}`)) this.holding.delete(k);
    for (const k of [...this.inhibitedHeals.keys()]) if (k.endsWith(`\u0000${host}`)) this.inhibitedHeals.delete(k);
    // What this controller wrote about the host is committed before the new owner reads it.
    await this.deps.store.flush();
    return { heals, alerts };
  }

  /**
   * This controller took the host (its agent connected here, or its controller died): the open
   * alerts and work orders recorded for it are carried on here.
   */
  async adoptHost(host: string, how: 'connected' | 'orphaned'): Promise<{ heals: number; alerts: number }> {
    if (how === 'orphaned') {
      const record = await this.deps.store.getHost(host);
      if (record) this.hosts.adopt(record);
    } else {
      await this.hosts.persist(host);
    }
    const open = await this.alerting.adopt(host);
    this.holdingFrom(open);
    const heals = await this.heal.adopt(host);
    return { heals, alerts: open.length };
  }

  close(): void {
    this.heal.close();
    this.alerting.close();
  }

  // --- inside ---

  /** One rule's verdict on one sample: the alert moves; a fault that starts or comes back asks for a heal; one that clears may verify it. */
  private async verdict(rule: Rule, view: HostView, holds: boolean, now: number, faultAt: number, evidence: Evidence): Promise<void> {
    const k = `${rule.id}\u0000${view.id}`;
    const held = this.holding.has(k);
    if (holds) this.holding.add(k);
    else this.holding.delete(k);
    const t = this.alerting.observe(rule, view, holds, now, evidence);
    if (rule.heal) {
      if (t?.to === 'firing' && t.from !== 'firing') await this.healAlert(rule, t.alert, faultAt);
      else if (holds && !held) {
        // The fault is back while keepFiringFor or flap damping still holds its alert firing:
        // a new occurrence, so it is healed through the brakes or recorded as why not.
        const alert = this.alerting.get(rule.id, view.id);
        if (alert?.state === 'firing') await this.healAlert(rule, alert, faultAt);
      }
    }
    // The condition clearing is what verifies a heal, even while keepFiringFor holds the alert.
    if (!holds && held) await this.heal.onCleared(rule.id, view.id);
  }

  private async healAlert(rule: Rule, alert: AlertRecord, faultAt?: number): Promise<void> {
    // A parent's alert holds this one back (dependsOn, inhibit): its heal waits until the parent clears.
    const parent = this.alerting.inhibitedBy(alert);
    if (parent) {
      const k = `${rule.id}\u0000${alert.host}`;
      if (!this.inhibitedHeals.has(k)) this.deps.log.info({ rule: rule.id, host: alert.host, reason: parent }, `heal waits: ${parent}`);
      this.inhibitedHeals.set(k, faultAt);
      return;
    }
    const order = await this.heal.request(rule, { host: alert.host, alert, faultAt, trigger: 'alert' });
    if (order) await this.alerting.linkHeal(alert, order.id);
  }

  /** Heals whose parent alert cleared go now, if their own alert still fires; the rest keep waiting. */
  private async releaseInhibitedHeals(): Promise<void> {
    for (const [k, faultAt] of [...this.inhibitedHeals]) {
      const [ruleId, host] = k.split('\u0000');
      const rule = this.ruleById.get(ruleId);
      const alert = this.alerting.get(ruleId, host);
      if (!rule?.heal || alert?.state !== 'firing') this.inhibitedHeals.delete(k);
      else if (!this.alerting.inhibitedBy(alert)) {
        this.inhibitedHeals.delete(k);
        await this.healAlert(rule, alert, faultAt);
      }
    }
  }

  /** A slot freed for a heal a concurrency brake deferred: heal its alert again if it still fires. */
  private async retryDeferred(ruleId: string, host: string): Promise<void> {
    const rule = this.ruleById.get(ruleId);
    if (rule?.fleet) return this.fleetRules.retryDeferred(rule, host);
    const alert = this.alerting.get(ruleId, host);
    if (rule?.heal && alert?.state === 'firing') await this.healAlert(rule, alert);
  }

  /** Open alerts whose condition held when they were recorded (not held by keepFiringFor or flap damping). */
  private holdingFrom(alerts: readonly AlertRecord[]): void {
    for (const a of alerts) if (a.state !== 'resolved' && !a.clearedAt && a.rule !== HOST_DOWN.id) this.holding.add(`${a.rule}\u0000${a.host}`);
  }
}
