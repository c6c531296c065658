import type { Hello, Logger, Result, Sample, Welcome } from '../protocol/index.js';
import { LAAS_VERSION, errorMessage } from '../protocol/index.js';
import { Groups, type NotificationLogEntry } from './alerts/groups.js';
import { AlertManager, fingerprint, type AlertRule, type Transition } from './alerts/manager.js';
import type { Maintenance } from './alerts/maintenance.js';
import { direct, route, type Delivery, type Route } from './alerts/routes.js';
import { Silences, formatMatcher, matches, type Matcher, type Silence } from './alerts/silences.js';
import type { Clock } from './clock.js';
import { HealService, type NoticeKind } from './heal/service.js';
import { HostRegistry } from './hosts/registry.js';
import type { Metrics } from './metrics.js';
import type { Notification } from './notify/index.js';
import { Evaluator, factsOf, selects, type HostView } from './rules/evaluate.js';
import type { Rule } from './rules/schema.js';
import type { AlertRecord, HealRecord } from './model.js';
import type { Store } from './store/store.js';
import type { Run } from '../protocol/index.js';

export const HOST_DOWN: AlertRule = {
  id: 'builtin/host-down', name: 'host-down', namespace: 'builtin', severity: 'critical', forMs: 0,
  summary: 'host {{host}} stopped reporting', description: 'The agent sent nothing within the host-down deadline.', labels: {},
};

/** Sweeps are a second apart; twice that without one means the controller was not running. */
const SWEEP_MS = 1_000;
const STALL_MS = 2 * SWEEP_MS;

export interface PipelineDeps {
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
  /** The notification log: muted pages are recorded here. */
  logNotification?: (entry: NotificationLogEntry) => void;
  resolveWaitMs?: number;
  /** Several controllers on one database (controller/cluster): hooks, all absent for one controller. */
  cluster?: {
    /** Whether this controller owns the host (holds, or last held, its link). */
    owns: (host: string) => boolean;
    /** Hosts fleet-wide, the base of a percentage fleet limit. */
    fleetSize: () => number;
    inFlight: () => Promise<{ host: string; rule: string }[]>;
    gate: <T>(fn: () => Promise<T>) => Promise<T>;
    /** Of the hosts a schedule fires on, those this controller runs (each host once per fire time). */
    claimRuns: (rule: string, fireAt: string, hosts: string[]) => Promise<string[]>;
  };
}

/**
 * The decisions, from a sample to alerts, notifications and work orders — the same code the
 * controller runs and `laas rules test` replays on a simulated clock. It knows nothing of
 * sockets or HTTP: instructions and notifications leave through the functions it is given.
 */
export class Pipeline {
  readonly hosts: HostRegistry;
  readonly alerts: AlertManager;
  readonly heal: HealService;
  readonly groups: Groups;
  silences = new Silences();
  private rules: readonly Rule[] = [];
  private readonly ruleById = new Map<string, Rule>();
  private evaluator = new Evaluator([]);
  /** Rule and host pairs whose condition held at the last sample (to see it clear). */
  private readonly holding = new Set<string>();
  private silenceTimer: { cancel(): void } | undefined;
  private lastSweepAt: number | undefined;
  /** The agent-clock time of the newest sample evaluated per host (the same clock: skew does not matter). */
  private readonly newestSample = new Map<string, number>();
  /** Each rule's alert view, made once per rule set rather than per rule on every sample. */
  private alertRules = new WeakMap<Rule, AlertRule>();

  private constructor(private readonly deps: PipelineDeps) {
    this.hosts = new HostRegistry({ store: deps.store, metrics: deps.metrics, clock: () => deps.clock.now(), downAfterMs: deps.hostDownAfterMs, startedAt: deps.clock.now() });
    this.alerts = new AlertManager({ onTransition: (t) => this.onTransition(t), onHoldChange: (a) => void deps.store.putAlert(a) });
    this.heal = new HealService({
      store: deps.store, metrics: deps.metrics, log: deps.log, clock: deps.clock, send: deps.send, requestSample: deps.requestSample,
      isConnected: (host) => this.hosts.get(host)?.connected ?? false,
      notify: (order, kind, text) => this.healNotice(order, kind, text),
      hostsSelected: (rule) => this.hosts.count((h) => selects(rule, h)),
      fleetSize: deps.cluster ? deps.cluster.fleetSize : () => this.hosts.count(),
      fleetLimit: deps.fleetLimit,
      ...(deps.cluster ? { fleet: { decide: (fn) => deps.cluster!.gate(async () => fn(await deps.cluster!.inFlight())) } } : {}),
      retry: (rule, host) => this.retryDeferred(rule, host),
      hold: (rule, host) => this.healHold(rule, host),
    });
    this.groups = new Groups({
      clock: deps.clock, deliver: deps.deliver, externalUrl: deps.externalUrl, resolveWaitMs: deps.resolveWaitMs,
      mutedBy: (a) => this.mutedBy(a), log: (e) => deps.logNotification?.(e),
      onError: (e, where) => deps.log.error({ err: errorMessage(e), where }, `${where} failed; carrying on (the next change to it tries again)`),
    });
  }

  static async create(deps: PipelineDeps): Promise<Pipeline> {
    const p = new Pipeline(deps);
    const owns = deps.cluster?.owns ?? (() => true);
    await p.hosts.restore(owns);
    p.alerts.restore((await deps.store.listAlerts()).filter((a) => owns(a.host)));
    // Whose condition held when the controller stopped: so the first fresh sample after a restart
    // can see it clear (samples buffered meanwhile are not evaluated and cannot tell).
    for (const a of p.alerts.list()) if (a.state !== 'resolved' && !a.clearedAt && a.rule !== HOST_DOWN.id) p.holding.add(`${a.rule}\u0000${a.host}`);
    for (const a of p.alerts.list()) deps.metrics.alertsActive.inc({ rule: a.rule, severity: a.severity, state: a.state });
    await p.heal.restore(owns);
    p.silences = p.loadSilences(await deps.store.getState('silences'));
    p.armSilenceTimer();
    return p;
  }

  get ruleSet(): readonly Rule[] {
    return this.rules;
  }

  rule(id: string): Rule | undefined {
    return this.ruleById.get(id);
  }

  /** Applies a new, valid rule set; alerts of rules that are gone resolve. */
  setRules(next: readonly Rule[]): void {
    const now = this.deps.clock.now();
    const ids = new Set(next.map((r) => r.id));
    for (const a of this.alerts.list()) if (a.rule !== HOST_DOWN.id && !ids.has(a.rule)) this.alerts.resolve(a, now);
    this.rules = next;
    this.ruleById.clear();
    for (const r of next) this.ruleById.set(r.id, r);
    this.evaluator = new Evaluator(next.filter((r) => r.when));
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

  async hello(hello: Hello): Promise<Welcome> {
    const host = await this.hosts.connected(hello);
    // A restarted agent forgot what it was running: say so now rather than wait for a timeout.
    if (host.restarted) await this.heal.agentRestarted(host.id, new Set(hello.results ?? []));
    return { hostId: hello.agentId, controllerVersion: LAAS_VERSION };
  }

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
    if (await this.hosts.seen(hostId, now)) {
      const down = this.alerts.get(HOST_DOWN.id, hostId);
      if (down) this.alerts.resolve(down, now);
    }
    // A sample held back during an outage, or older than one already seen, tells what was, not
    // what is: counted, but it neither moves alerts nor heals (that would flap on old news).
    const newest = this.newestSample.get(hostId) ?? 0;
    if (sample.buffered || sample.ts < newest) {
      this.deps.metrics.samplesLate.inc({ reason: sample.buffered ? 'buffered' : 'out-of-order' });
      return;
    }
    this.newestSample.set(hostId, sample.ts);
    this.deps.metrics.facts.record(hostId, sample);
    const view: HostView = { id: host.id, labels: host.labels };
    const started = performance.now();
    const verdicts = await this.evaluator.evaluate(view, factsOf(view, sample));
    this.deps.metrics.ruleEvalSeconds.observe((performance.now() - started) / 1000);
    // The agent's sample time marks the fault, unless its clock is clearly off.
    const faultAt = Math.abs(sample.ts - now) < 60_000 ? Math.min(sample.ts, now) : now;
    for (const [ruleId, holds] of verdicts) {
      const rule = this.ruleById.get(ruleId);
      if (!rule) continue;
      const k = `${ruleId}\u0000${hostId}`;
      const held = this.holding.has(k);
      if (holds) this.holding.add(k);
      else this.holding.delete(k);
      const t = this.alerts.observe(this.alertRuleOf(rule), view, holds, now);
      if (rule.heal) {
        if (t?.to === 'firing' && t.from !== 'firing') await this.healAlert(rule, t.alert, faultAt);
        else if (holds && !held) {
          // The fault is back while keepFiringFor or flap damping still holds its alert firing:
          // a new occurrence, so it is healed through the brakes or recorded as why not.
          const alert = this.alerts.get(ruleId, hostId);
          if (alert?.state === 'firing') await this.healAlert(rule, alert, faultAt);
        }
      }
      // The condition clearing is what verifies a heal, even while keepFiringFor holds the alert.
      if (!holds && held) {
        await this.heal.onCleared(ruleId, hostId);
      }
    }
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
    for (const h of await this.hosts.sweep(now)) this.alerts.observe(HOST_DOWN, { id: h.id, labels: h.labels }, true, now);
    this.alerts.tick(now);
    // A maintenance window may have closed: muted alerts get their page then.
    if (this.deps.maintenance && Math.floor(now / 1000) % 10 === 0) this.groups.refresh();
  }

  // --- several controllers (controller/cluster) ---

  /** Another controller now holds the host's link: its alerts and work orders are carried on there. */
  async releaseHost(host: string): Promise<{ heals: string[]; alerts: number }> {
    const heals = this.heal.release(host);
    const alerts = this.alerts.release(host);
    this.groups.forget(host);
    this.hosts.forget(host);
    for (const k of [...this.holding]) if (k.endsWith(`\u0000${host}`)) this.holding.delete(k);
    // What this controller wrote about the host is committed before the new owner reads it.
    await this.deps.store.flush();
    return { heals, alerts: alerts.length };
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
    const open = (await this.deps.store.listAlerts({ host })).filter((a) => a.state !== 'resolved' && !this.alerts.get(a.rule, a.host));
    this.alerts.restore(open);
    for (const a of open) if (a.state !== 'resolved' && !a.clearedAt && a.rule !== HOST_DOWN.id) this.holding.add(`${a.rule}\u0000${a.host}`);
    for (const a of open) if (a.state === 'firing') this.groups.adopt(a, this.deliveries(a));
    const heals = await this.heal.adopt(host);
    return { heals, alerts: open.length };
  }

  /** Another controller changed the silences. */
  async reloadSilences(): Promise<void> {
    this.silences = this.loadSilences(await this.deps.store.getState('silences'));
    this.armSilenceTimer();
    this.groups.refresh();
  }

  /** A stored silence that cannot be applied is logged once here and skipped (never thrown at a flush). */
  private loadSilences(saved: unknown): Silences {
    return new Silences(saved ?? [], (p) => this.deps.log.error({ code: 'SILENCE_INVALID', silence: p.id, problem: p.problem },
      `stored silence ${p.id} is invalid and is skipped: ${p.problem}; fix or expire it (laas silence expire ${p.id})`));
  }

    private alertRuleOf(rule: Rule): AlertRule {
    let a = this.alertRules.get(rule);
    if (!a) { a = alertRule(rule); this.alertRules.set(rule, a); }
    return a;
  }

  // --- acknowledgement and silences (API) ---

  async acknowledge(id: string, by: string, comment: string): Promise<AlertRecord | undefined> {
    const alert = this.alerts.acknowledge(id, by, comment, this.deps.clock.now());
    if (!alert) return undefined;
    this.groups.acknowledge(alert);
    await this.deps.store.putAlert(alert);
    this.deps.log.info({ alert: id, by }, 'alert acknowledged');
    return alert;
  }

  async addSilence(input: { matchers: Matcher[]; startsAt: number; endsAt: number; createdBy: string; comment: string; pauseHeals?: boolean }): Promise<Silence> {
    const s = this.silences.add(input, this.deps.clock.now());
    await this.saveSilences();
    this.deps.log.info({ silence: s.id, matchers: s.matchers.map(formatMatcher), endsAt: s.endsAt, by: s.createdBy }, 'silence added');
    return s;
  }

  async expireSilence(id: string, by: string): Promise<boolean> {
    const done = this.silences.expire(id, this.deps.clock.now());
    if (done) {
      await this.saveSilences();
      this.deps.log.info({ silence: id, by }, 'silence expired');
      this.groups.refresh();
    }
    return done;
  }

  private async saveSilences(): Promise<void> {
    this.silences.prune(this.deps.clock.now());
    await this.deps.store.putState('silences', this.silences.toJSON());
    this.armSilenceTimer();
  }

  /** Wakes when the next silence starts or ends, so what it muted is paged then. */
  private armSilenceTimer(): void {
    this.silenceTimer?.cancel();
    const now = this.deps.clock.now();
    const next = this.silences.nextChange(now);
    if (next === undefined) return;
    this.silenceTimer = this.deps.clock.after(next - now + 1, () => {
      this.groups.refresh();
      this.armSilenceTimer();
    });
  }

  /** Why an alert must not be paged now, or null: a silence, a maintenance window, or host-down. */
  private mutedBy(a: AlertRecord): string | null {
    const now = this.deps.clock.now();
    const silence = this.silences.matching(a.labels, now)[0];
    if (silence) return `silenced by ${silence.id} (${silence.createdBy}${silence.comment ? `: ${silence.comment}` : ''})`;
    const host = this.hosts.get(a.host);
    const window = host && this.deps.maintenance?.covering(host, now);
    if (window) return `maintenance window ${window}`;
    if (a.rule !== HOST_DOWN.id && this.alerts.get(HOST_DOWN.id, a.host)?.state === 'firing') return `inhibited: host-down is firing for ${a.host}`;
    return null;
  }

  /** A maintenance window, or a silence that pauses heals, holds automatic heals on a host. */
  private healHold(rule: Rule, hostId: string): string | null {
    const now = this.deps.clock.now();
    const host = this.hosts.get(hostId);
    const window = host && this.deps.maintenance?.covering(host, now);
    if (window) return `maintenance window ${window} covers ${hostId}`;
    const alert = this.alerts.get(rule.id, hostId);
    const silence = alert && this.silences.matching(alert.labels, now).find((s) => s.pauseHeals);
    if (silence) return `silence ${silence.id} (${silence.createdBy}) pauses heals of this alert`;
    return null;
  }

  /**
   * A scheduled rule's turn: its steps run on every connected host it selects, at most
   * maxConcurrent at a time (the rest wait their turn). No host selected means nothing runs.
   */
  async runSchedule(ruleId: string, fireAt?: string): Promise<{ hosts: string[] }> {
    const rule = this.ruleById.get(ruleId);
    if (!rule?.heal || !rule.schedule) return { hosts: [] };
    let hosts = this.hosts.list().filter((h) => h.connected && selects(rule, h)).map((h) => h.id).sort();
    // Several controllers: each runs its own hosts, and a host that moved mid-tick runs once.
    if (fireAt && this.deps.cluster) hosts = await this.deps.cluster.claimRuns(rule.id, fireAt, hosts);
    if (hosts.length === 0) {
      this.deps.metrics.schedulesRun.inc({ rule: rule.id, outcome: 'no-hosts' });
      this.deps.log.warn({ rule: rule.id }, 'scheduled rule selects no connected host; nothing run');
      return { hosts };
    }
    this.deps.metrics.schedulesRun.inc({ rule: rule.id, outcome: 'started' });
    await this.heal.runSchedule(rule, hosts);
    return { hosts };
  }

  private async healAlert(rule: Rule, alert: AlertRecord, faultAt?: number): Promise<void> {
    const order = await this.heal.request(rule, { host: alert.host, alert, faultAt, trigger: 'alert' });
    if (!order) return;
    this.alerts.linkHeal(alert, order.id);
    await this.deps.store.putAlert(alert);
  }

  /** A slot freed for a heal a concurrency brake deferred: heal its alert again if it still fires. */
  private async retryDeferred(ruleId: string, host: string): Promise<void> {
    const rule = this.ruleById.get(ruleId);
    const alert = this.alerts.get(ruleId, host);
    if (rule?.heal && alert?.state === 'firing') await this.healAlert(rule, alert);
  }

  private onTransition({ alert, from, to }: Transition): void {
    const { metrics, log, store } = this.deps;
    void store.putAlert(alert);
    if (from === to) { // not a state change: the alert was marked flapping and is held firing
      log.warn({ alert: alert.id, rule: alert.rule, host: alert.host }, 'alert flapping; held firing until it settles');
      return;
    }
    metrics.alertTransitions.inc({ rule: alert.rule, state: to });
    if (from) metrics.alertsActive.dec({ rule: alert.rule, severity: alert.severity, state: from });
    if (to !== 'resolved') metrics.alertsActive.inc({ rule: alert.rule, severity: alert.severity, state: to });
    // Pending alerts that clear were never shown to anyone: no notice for them.
    if (to === 'pending' || (to === 'resolved' && from === 'pending')) return;
    log.info({ alert: alert.id, rule: alert.rule, host: alert.host, state: to }, `alert ${to}`);
    this.groups.update(alert, this.deliveries(alert));
    // host-down inhibits its host's other alerts; when it resolves they may page again.
    if (alert.rule === HOST_DOWN.id && to === 'resolved') this.groups.refresh();
  }

  /** Who hears of an alert: the receivers its rule names, else the routing tree's answer. */
  private deliveries(alert: AlertRecord): Delivery[] {
    const named = this.ruleById.get(alert.rule)?.notify ?? [];
    if (named.length) return direct(named, this.deps.route);
    if (this.deps.route) return route(this.deps.route, alert.labels);
    // No routing configured: host-down still reaches everyone who can be reached.
    return alert.rule === HOST_DOWN.id ? direct([...this.deps.receivers], undefined) : [];
  }

  /** Escalations, breaker openings and approval requests go to the rule's receivers. */
  private healNotice(order: HealRecord, kind: NoticeKind, text: string): string[] {
    const rule = this.ruleById.get(order.rule);
    const receivers = rule?.notify ?? [];
    const iso = new Date(this.deps.clock.now()).toISOString();
    const labels: Record<string, string> = {
      alertname: `laas-heal-${kind}`, rule: order.rule, host: order.host, namespace: rule?.namespace ?? order.rule.split('/')[0],
      severity: kind === 'approval-needed' ? 'info' : kind === 'flapping' ? 'warning' : 'critical',
    };
    for (const receiver of receivers) {
      this.deps.deliver({
        receiver, status: 'firing', groupKey: `{}:{alertname="${labels.alertname}",heal="${order.id}"}`,
        groupLabels: { alertname: labels.alertname, host: order.host }, externalUrl: this.deps.externalUrl(),
        alerts: [{
          id: order.alertId ?? order.id, status: 'firing', rule: order.rule, host: order.host, severity: labels.severity, labels,
          annotations: { summary: text, workOrder: order.id }, startsAt: iso, endsAt: null, fingerprint: fingerprint(labels),
        }],
      });
    }
    return [...receivers];
  }
}

function alertRule(rule: Rule): AlertRule {
  return {
    id: rule.id, name: rule.name, namespace: rule.namespace, severity: rule.severity, forMs: rule.for, summary: rule.summary,
    description: rule.description, labels: rule.labels, keepFiringForMs: rule.keepFiringFor, flap: rule.flap,
  };
}
