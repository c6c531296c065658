import { errorMessage, type Logger } from '../../protocol/index.js';
import type { Clock } from '../clock.js';
import type { Metrics } from '../metrics.js';
import type { AlertRecord, HealNoticeKind, HealRecord, HostRecord, NotificationLogEntry } from '../model.js';
import type { Notification } from '../notify/index.js';
import type { HostView } from '../rules/evaluate.js';
import type { Rule } from '../rules/schema.js';
import type { Store } from '../store/store.js';
import { Groups } from './groups.js';
import type { Maintenance } from './maintenance.js';
import { direct, route, type Delivery, type Route } from './routes.js';
import { Silences, formatMatcher, type Matcher, type Silence } from './silences.js';
import { fromDependencies, Inhibitor, type Inhibition } from './inhibit.js';
import { AlertStates, fingerprint, type AlertRule, type Evidence, type Transition } from './state-machine.js';

/** The built-in alert of a host whose agent stopped reporting. */
export const HOST_DOWN: AlertRule = {
  id: 'builtin/host-down',
  name: 'host-down',
  namespace: 'builtin',
  severity: 'critical',
  forMs: 0,
  summary: 'host {{host}} stopped reporting',
  description: 'The agent sent nothing within the host-down deadline.',
  labels: {},
};

export interface AlertDeps {
  store: Store;
  metrics: Metrics;
  log: Logger;
  clock: Clock;
  /** Receivers the config defines; host-down goes to all of them when nothing routes it. */
  receivers: ReadonlySet<string>;
  deliver: (n: Notification) => void;
  externalUrl: () => string;
  /** The routing tree (receivers by labels, grouping); rules may also name receivers. */
  route?: Route;
  maintenance?: Maintenance;
  /** controller.json `inhibit`; rules' `dependsOn` join them when rules load. */
  inhibit?: readonly Inhibition[];
  /** The notification log: muted pages are recorded here. */
  logNotification?: (entry: NotificationLogEntry) => void;
  resolveWaitMs?: number;
  /** The rule of an alert (for the receivers it names). */
  rule: (id: string) => Rule | undefined;
  /** A host's record (for the maintenance windows that cover it). */
  host: (id: string) => HostRecord | undefined;
}

/**
 * Alerting, as one service: the state machine (one alert per rule and host), silences and
 * maintenance, inhibition by host-down, acknowledgement, and who is told — the routing tree and
 * the notification groups, which hand notifications to notify/ (a one-way dependency).
 */
export class AlertService {
  private readonly states: AlertStates;
  private readonly groups: Groups;
  private silences = new Silences();
  private silenceTimer: { cancel(): void } | undefined;
  /** Each rule's alert view, made once per rule set rather than per rule on every sample. */
  private readonly alertRules = new WeakMap<Rule, AlertRule>();
  private readonly inhibitor = new Inhibitor(() => this.states.list());
  /** The rules' `dependsOn`, kept so a reloaded controller.json `inhibit` joins them again. */
  private dependencies: Inhibition[] = [];

  constructor(private readonly deps: AlertDeps) {
    this.inhibitor.set([...(deps.inhibit ?? [])]);
    this.states = new AlertStates({ onTransition: (t) => this.onTransition(t), onHoldChange: (a) => void deps.store.putAlert(a) });
    this.groups = new Groups({
      clock: deps.clock,
      deliver: deps.deliver,
      externalUrl: deps.externalUrl,
      resolveWaitMs: deps.resolveWaitMs,
      mutedBy: (a) => this.mutedBy(a),
      log: (e) => deps.logNotification?.(e),
      onError: (e, where) => deps.log.error({ err: errorMessage(e), where }, `${where} failed; carrying on (the next change to it tries again)`),
    });
  }

  /** After a restart: the alerts that were open (of the hosts this controller owns) and the silences. */
  async restore(owns: (host: string) => boolean): Promise<void> {
    this.states.restore((await this.deps.store.listAlerts()).filter((a) => owns(a.host)));
    for (const a of this.states.list()) this.deps.metrics.alertsActive.inc({ rule: a.rule, severity: a.severity, state: a.state });
    this.silences = this.loadSilences(await this.deps.store.getState('silences'));
    this.armSilenceTimer();
  }

  // --- the state machine ---

  /** One verdict of a rule for a host; the transition it caused, if any. */
  observe(rule: Rule, host: HostView, holds: boolean, at: number, evidence?: Evidence): Transition | undefined {
    let a = this.alertRules.get(rule);
    if (!a) {
      a = alertRule(rule);
      this.alertRules.set(rule, a);
    }
    return this.states.observe(a, host, holds, at, evidence);
  }

  /** The host stopped reporting. */
  hostDown(host: HostView, at: number): void {
    this.states.observe(HOST_DOWN, host, true, at);
  }

  /** The host is heard from again: its host-down resolves. */
  hostBack(host: string, at: number): void {
    const down = this.states.get(HOST_DOWN.id, host);
    if (down) this.states.resolve(down, at);
  }

  get(rule: string, host: string): AlertRecord | undefined {
    return this.states.get(rule, host);
  }

  /** The open alerts. */
  list(): AlertRecord[] {
    return this.states.list();
  }

  /** A new rule set applies: alerts of rules that are gone resolve; the rules' dependencies join the config's inhibitions. */
  rulesChanged(rules: readonly Rule[]): void {
    const now = this.deps.clock.now();
    const ids = new Set(rules.map((r) => r.id));
    for (const a of this.states.list()) if (a.rule !== HOST_DOWN.id && !ids.has(a.rule)) this.states.resolve(a, now);
    this.dependencies = fromDependencies(rules);
    this.inhibitor.set([...(this.deps.inhibit ?? []), ...this.dependencies]);
    this.groups.refresh();
  }

  /**
   * controller.json's routing, maintenance windows and inhibitions, reloaded in place: alerts,
   * their groups and work orders stay; what is decided from now on (who is told, what is muted)
   * follows the new config.
   */
  setRouting(next: Pick<AlertDeps, 'route' | 'maintenance' | 'inhibit'>): void {
    this.deps.route = next.route;
    this.deps.maintenance = next.maintenance;
    this.deps.inhibit = next.inhibit;
    this.inhibitor.set([...(next.inhibit ?? []), ...this.dependencies]);
    this.groups.refresh();
  }

  /** Why a firing alert is held back by another (inhibition, dependsOn): its heal waits while this is not null. */
  inhibitedBy(a: AlertRecord): string | null {
    return this.inhibitor.reason(a);
  }

  /** Why an open alert is not paged now, or null: what GET /api/v1/alerts shows as `mutedBy`. */
  mutedReason(a: AlertRecord): string | null {
    return a.state === 'resolved' ? null : this.mutedBy(a);
  }

  /** Held alerts whose hold ran out resolve; a maintenance window that closed lets what it muted page. */
  tick(now: number): void {
    this.states.tick(now);
    if (this.deps.maintenance && Math.floor(now / 1000) % 10 === 0) this.groups.refresh();
  }

  /** A work order was opened for an alert. */
  async linkHeal(alert: AlertRecord, orderId: string): Promise<void> {
    this.states.linkHeal(alert, orderId);
    await this.deps.store.putAlert(alert);
  }

  // --- people: acknowledgement and silences ---

  async acknowledge(id: string, by: string, comment: string): Promise<AlertRecord | undefined> {
    const alert = this.states.acknowledge(id, by, comment, this.deps.clock.now());
    if (!alert) return undefined;
    this.groups.acknowledge(alert);
    await this.deps.store.putAlert(alert);
    this.deps.log.info({ alert: id, by }, 'alert acknowledged');
    return alert;
  }

  listSilences(): ReturnType<Silences['all']> {
    return this.silences.all(this.deps.clock.now());
  }

  async addSilence(input: {
    matchers: Matcher[];
    startsAt: number;
    endsAt: number;
    createdBy: string;
    comment: string;
    pauseHeals?: boolean;
  }): Promise<Silence> {
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

  /** Another controller changed the silences. */
  async reloadSilences(): Promise<void> {
    this.silences = this.loadSilences(await this.deps.store.getState('silences'));
    this.armSilenceTimer();
    this.groups.refresh();
  }

  /** A maintenance window, or a silence that pauses heals, holds automatic heals on a host. */
  healHold(rule: Rule, hostId: string): string | null {
    const now = this.deps.clock.now();
    const host = this.deps.host(hostId);
    const window = host && this.deps.maintenance?.covering(host, now);
    if (window) return `maintenance window ${window} covers ${hostId}`;
    const alert = this.states.get(rule.id, hostId);
    const silence = alert && this.silences.matching(alert.labels, now).find((s) => s.pauseHeals);
    if (silence) return `silence ${silence.id} (${silence.createdBy}) pauses heals of this alert`;
    return null;
  }

  /** Escalations, breaker openings, approval requests and flapping stops go to the rule's receivers; returns who. */
  healNotice(order: HealRecord, kind: HealNoticeKind, text: string): string[] {
    const rule = this.deps.rule(order.rule);
    const receivers = rule?.notify ?? [];
    const iso = new Date(this.deps.clock.now()).toISOString();
    const labels: Record<string, string> = {
      alertname: `laas-heal-${kind}`,
      rule: order.rule,
      host: order.host,
      namespace: rule?.namespace ?? order.rule.split('/')[0],
      severity: kind === 'approval-needed' ? 'info' : kind === 'flapping' ? 'warning' : 'critical',
    };
    for (const receiver of receivers) {
      this.deps.deliver({
        receiver,
        status: 'firing',
        groupKey: `{}:{alertname="${labels.alertname}",heal="${order.id}"}`,
        groupLabels: { alertname: labels.alertname, host: order.host },
        externalUrl: this.deps.externalUrl(),
        alerts: [
          {
            id: order.alertId ?? order.id,
            status: 'firing',
            rule: order.rule,
            host: order.host,
            severity: labels.severity,
            labels,
            annotations: { summary: text, workOrder: order.id },
            startsAt: iso,
            endsAt: null,
            fingerprint: fingerprint(labels),
          },
        ],
      });
    }
    return [...receivers];
  }

  // --- several controllers ---

  /** Another controller holds the host now: its open alerts are paged from there. */
  release(host: string): number {
    const n = this.states.release(host).length;
    this.groups.forget(host);
    return n;
  }

  /** This controller took the host: its open alerts are carried on here (people already heard of the firing ones). */
  async adopt(host: string): Promise<AlertRecord[]> {
    const open = (await this.deps.store.listAlerts({ host })).filter((a) => a.state !== 'resolved' && !this.states.get(a.rule, a.host));
    this.states.restore(open);
    for (const a of open) if (a.state === 'firing') this.groups.adopt(a, this.deliveries(a));
    return open;
  }

  close(): void {
    this.silenceTimer?.cancel();
    this.groups.close();
  }

  // --- inside ---

  private onTransition({ alert, from, to }: Transition): void {
    const { metrics, log, store } = this.deps;
    void store.putAlert(alert);
    if (from === to) {
      // not a state change: the alert was marked flapping and is held firing
      log.warn({ alert: alert.id, rule: alert.rule, host: alert.host }, 'alert flapping; held firing until it settles');
      return;
    }
    metrics.alertTransitions.inc({ rule: alert.rule, state: to });
    if (to === 'firing' || from === 'firing') this.inhibitor.changed();
    if (from) metrics.alertsActive.dec({ rule: alert.rule, severity: alert.severity, state: from });
    if (to !== 'resolved') metrics.alertsActive.inc({ rule: alert.rule, severity: alert.severity, state: to });
    // Pending alerts that clear were never shown to anyone: no notice for them.
    if (to === 'pending' || (to === 'resolved' && from === 'pending')) return;
    log.info({ alert: alert.id, rule: alert.rule, host: alert.host, state: to }, `alert ${to}`);
    this.groups.update(alert, this.deliveries(alert));
    // host-down (and any inhibition source) holds other alerts back; when it resolves they may page again.
    if (to === 'resolved' && (alert.rule === HOST_DOWN.id || this.inhibitor.isSource(alert))) this.groups.refresh();
  }

  /** Who hears of an alert: the receivers its rule names, else the routing tree's answer. */
  private deliveries(alert: AlertRecord): Delivery[] {
    const named = this.deps.rule(alert.rule)?.notify ?? [];
    if (named.length) return direct(named, this.deps.route);
    if (this.deps.route) return route(this.deps.route, alert.labels);
    // No routing configured: host-down still reaches everyone who can be reached.
    return alert.rule === HOST_DOWN.id ? direct([...this.deps.receivers], undefined) : [];
  }

  /** Why an alert must not be paged now, or null: a silence, a maintenance window, host-down or an inhibition. */
  private mutedBy(a: AlertRecord): string | null {
    const now = this.deps.clock.now();
    const silence = this.silences.matching(a.labels, now)[0];
    if (silence) return `silenced by ${silence.id} (${silence.createdBy}${silence.comment ? `: ${silence.comment}` : ''})`;
    const host = this.deps.host(a.host);
    const window = host && this.deps.maintenance?.covering(host, now);
    if (window) return `maintenance window ${window}`;
    if (a.rule !== HOST_DOWN.id && this.states.get(HOST_DOWN.id, a.host)?.state === 'firing') return `inhibited: host-down is firing for ${a.host}`;
    return this.inhibitor.reason(a);
  }

  /** A stored silence that cannot be applied is logged once here and skipped (never thrown at a flush). */
  private loadSilences(saved: unknown): Silences {
    return new Silences(saved ?? [], (p) =>
      this.deps.log.error(
        { code: 'SILENCE_INVALID', silence: p.id, problem: p.problem },
        `stored silence ${p.id} is invalid and is skipped: ${p.problem}; fix or expire it (laas silence expire ${p.id})`,
      ),
    );
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
}

function alertRule(rule: Rule): AlertRule {
  return {
    id: rule.id,
    name: rule.name,
    namespace: rule.namespace,
    severity: rule.severity,
    forMs: rule.for,
    summary: rule.summary,
    description: rule.description,
    labels: rule.labels,
    keepFiringForMs: rule.keepFiringFor,
    flap: rule.flap,
  };
}
