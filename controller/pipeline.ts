import type { Hello, Logger, Result, Sample, Welcome } from '../protocol/index.js';
import { LAAS_VERSION } from '../protocol/index.js';
import { AlertManager, fingerprint, type AlertRule, type Transition } from './alerts/manager.js';
import type { Clock } from './clock.js';
import { HealManager, type NoticeKind } from './heal/manager.js';
import { hostLimit } from './heal/policy.js';
import { HostRegistry } from './hosts/registry.js';
import type { Metrics } from './metrics.js';
import type { AlertNotice, Notification } from './notify/index.js';
import { Evaluator, factsOf, selects, type HostView } from './rules/evaluate.js';
import type { Rule } from './rules/schema.js';
import type { AlertRecord, HealRecord, Store } from './store/store.js';
import type { Run } from '../protocol/index.js';

export const HOST_DOWN: AlertRule = {
  id: 'builtin/host-down', name: 'host-down', namespace: 'builtin', severity: 'critical', forMs: 0,
  summary: 'host {{host}} stopped reporting', description: 'The agent sent nothing within the host-down deadline.', labels: {},
};

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
}

/**
 * The decisions, from a sample to alerts, notifications and work orders — the same code the
 * controller runs and `laas rules test` replays on a simulated clock. It knows nothing of
 * sockets or HTTP: instructions and notifications leave through the functions it is given.
 */
export class Pipeline {
  readonly hosts: HostRegistry;
  readonly alerts: AlertManager;
  readonly heal: HealManager;
  private rules: readonly Rule[] = [];
  private readonly ruleById = new Map<string, Rule>();
  private evaluator = new Evaluator([]);
  /** Scheduled runs waiting for a free slot under the rule's maxConcurrent. */
  private readonly queues = new Map<string, string[]>();
  /** Firing alerts whose heal a concurrency limit deferred: retried when a slot frees. */
  private readonly deferred = new Map<string, { rule: string; host: string }>();

  private constructor(private readonly deps: PipelineDeps) {
    this.hosts = new HostRegistry({ store: deps.store, metrics: deps.metrics, clock: () => deps.clock.now(), downAfterMs: deps.hostDownAfterMs, startedAt: deps.clock.now() });
    this.alerts = new AlertManager({ onTransition: (t) => this.onTransition(t) });
    this.heal = new HealManager({
      store: deps.store, metrics: deps.metrics, log: deps.log, clock: deps.clock, send: deps.send, requestSample: deps.requestSample,
      notify: (order, kind, text) => this.healNotice(order, kind, text),
      hostsSelected: (rule) => this.hosts.list().filter((h) => selects(rule, h)).length,
      fleetSize: () => this.hosts.list().length,
      fleetLimit: deps.fleetLimit,
      onFinished: (order) => this.slotFreed(order),
    });
  }

  static async create(deps: PipelineDeps): Promise<Pipeline> {
    const p = new Pipeline(deps);
    await p.hosts.restore();
    p.alerts.restore(await deps.store.listAlerts());
    for (const a of p.alerts.list()) deps.metrics.alertsActive.inc({ rule: a.rule, severity: a.severity, state: a.state });
    await p.heal.restore();
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
  }

  async hello(hello: Hello): Promise<Welcome> {
    await this.hosts.connected(hello);
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
    if (await this.hosts.seen(hostId, now)) {
      const down = this.alerts.get(HOST_DOWN.id, hostId);
      if (down) this.alerts.resolve(down, now);
    }
    const view: HostView = { id: host.id, labels: host.labels };
    const started = performance.now();
    const verdicts = await this.evaluator.evaluate(view, factsOf(view, sample));
    this.deps.metrics.ruleEvalSeconds.observe((performance.now() - started) / 1000);
    // The agent's sample time marks the fault, unless its clock is clearly off.
    const faultAt = Math.abs(sample.ts - now) < 60_000 ? Math.min(sample.ts, now) : now;
    for (const [ruleId, holds] of verdicts) {
      const rule = this.ruleById.get(ruleId);
      if (!rule) continue;
      const t = this.alerts.observe(alertRule(rule), view, holds, now);
      if (t?.to === 'firing' && rule.heal) {
        await this.healAlert(rule, t.alert, faultAt);
      } else if (t?.to === 'resolved') {
        this.deferred.delete(`${ruleId}\u0000${hostId}`);
        await this.heal.onCleared(ruleId, hostId);
      }
    }
  }

  async ack(host: string, id: string): Promise<void> {
    await this.heal.onAck(host, id);
  }

  async result(host: string, result: Result): Promise<boolean> {
    return this.heal.onResult(host, result);
  }

  /** Marks silent hosts down (raising host-down). */
  async sweep(): Promise<void> {
    const now = this.deps.clock.now();
    for (const h of await this.hosts.sweep(now)) this.alerts.observe(HOST_DOWN, { id: h.id, labels: h.labels }, true, now);
  }

  /**
   * A scheduled rule's turn: its steps run on every connected host it selects, at most
   * maxConcurrent at a time (the rest wait their turn). No host selected means nothing runs.
   */
  async runSchedule(ruleId: string): Promise<{ hosts: string[] }> {
    const rule = this.ruleById.get(ruleId);
    if (!rule?.heal || !rule.schedule) return { hosts: [] };
    const hosts = this.hosts.list().filter((h) => h.connected && selects(rule, h)).map((h) => h.id).sort();
    if (hosts.length === 0) {
      this.deps.metrics.schedulesRun.inc({ rule: rule.id, outcome: 'no-hosts' });
      this.deps.log.warn({ rule: rule.id }, 'scheduled rule selects no connected host; nothing run');
      return { hosts };
    }
    this.deps.metrics.schedulesRun.inc({ rule: rule.id, outcome: 'started' });
    const queue = this.queues.get(rule.id) ?? [];
    for (const h of hosts) if (!queue.includes(h)) queue.push(h);
    this.queues.set(rule.id, queue);
    await this.drain(rule.id);
    return { hosts };
  }

  private async healAlert(rule: Rule, alert: AlertRecord, faultAt?: number): Promise<void> {
    const order = await this.heal.request(rule, { host: alert.host, alert, faultAt, trigger: 'alert' });
    if (!order) return;
    this.alerts.linkHeal(alert, order.id);
    await this.deps.store.putAlert(alert);
    if (order.state === 'skipped' && /^(maxConcurrent|fleet-wide limit)/.test(order.reason)) {
      this.deferred.set(`${rule.id}\u0000${alert.host}`, { rule: rule.id, host: alert.host });
    }
  }

  /** A heal ended: the next scheduled host, or a deferred firing alert, may take its slot. */
  private async slotFreed(order: HealRecord): Promise<void> {
    if (order.state === 'skipped') return;
    await this.drain(order.rule);
    for (const [key, d] of [...this.deferred]) {
      const rule = this.ruleById.get(d.rule);
      const alert = this.alerts.get(d.rule, d.host);
      this.deferred.delete(key);
      if (rule?.heal && alert?.state === 'firing') await this.healAlert(rule, alert);
    }
  }

  private async drain(ruleId: string): Promise<void> {
    const queue = this.queues.get(ruleId);
    const rule = this.ruleById.get(ruleId);
    if (!queue?.length || !rule?.heal) return;
    const limit = hostLimit(rule.heal.maxConcurrent, this.hosts.list().filter((h) => selects(rule, h)).length);
    while (queue.length && this.heal.activeHosts(ruleId) < limit) {
      const host = queue.shift()!;
      await this.heal.request(rule, { host, trigger: 'schedule' });
    }
    if (!queue.length) this.queues.delete(ruleId);
  }

  private onTransition({ alert, from, to }: Transition): void {
    const { metrics, log, store } = this.deps;
    metrics.alertTransitions.inc({ rule: alert.rule, state: to });
    if (from) metrics.alertsActive.dec({ rule: alert.rule, severity: alert.severity, state: from });
    if (to !== 'resolved') metrics.alertsActive.inc({ rule: alert.rule, severity: alert.severity, state: to });
    void store.putAlert(alert);
    // Pending alerts that clear were never shown to anyone: no notice for them.
    if (to === 'pending' || (to === 'resolved' && from === 'pending')) return;
    log.info({ alert: alert.id, rule: alert.rule, host: alert.host, state: to }, `alert ${to}`);
    const targets = alert.rule === HOST_DOWN.id ? [...this.deps.receivers] : this.ruleById.get(alert.rule)?.notify ?? [];
    for (const receiver of targets) {
      this.deps.deliver({
        receiver, status: to === 'resolved' ? 'resolved' : 'firing', alerts: [notice(alert)],
        groupKey: `{}:{alertname="${alert.labels.alertname}",host="${alert.host}"}`,
        groupLabels: { alertname: alert.labels.alertname, host: alert.host }, externalUrl: this.deps.externalUrl(),
      });
    }
  }

  /** Escalations, breaker openings and approval requests go to the rule's receivers. */
  private healNotice(order: HealRecord, kind: NoticeKind, text: string): string[] {
    const rule = this.ruleById.get(order.rule);
    const receivers = rule?.notify ?? [];
    const iso = new Date(this.deps.clock.now()).toISOString();
    const labels: Record<string, string> = {
      alertname: `laas-heal-${kind}`, rule: order.rule, host: order.host, namespace: rule?.namespace ?? order.rule.split('/')[0],
      severity: kind === 'approval-needed' ? 'info' : 'critical',
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

export function notice(a: AlertRecord): AlertNotice {
  return {
    id: a.id, status: a.state === 'resolved' ? 'resolved' : 'firing', rule: a.rule, host: a.host, severity: a.severity,
    labels: a.labels, annotations: { summary: a.summary, ...(a.description ? { description: a.description } : {}) },
    startsAt: a.firedAt ?? a.startsAt, endsAt: a.endsAt, fingerprint: a.fingerprint,
  };
}

function alertRule(rule: Rule): AlertRule {
  return { id: rule.id, name: rule.name, namespace: rule.namespace, severity: rule.severity, forMs: rule.for, summary: rule.summary, description: rule.description, labels: rule.labels };
}
