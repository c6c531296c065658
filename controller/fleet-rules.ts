import type { AlertService } from './alerts/service.js';
import type { HealService } from './heal/service.js';
import type { Metrics } from './metrics.js';
import type { AlertRecord } from './model.js';
import { factsOf, hostFact, type HostView } from './rules/evaluate.js';
import { FleetEvaluator, FLEET_HOST, type FleetJudgement } from './rules/fleet.js';
import type { Rule } from './rules/schema.js';
import type { Windows } from './rules/windows/store.js';

export interface FleetRuleDeps {
  alerting: AlertService;
  heal: HealService;
  metrics: Metrics;
}

/**
 * Fleet rules' verdicts become one alert per rule (host "fleet", labelled with the rule's host
 * selector, `{{match}}` naming the members that meet `where`), and, when the rule heals, a work
 * order per member that meets `where` — each through the same brakes as any heal, so
 * `heal.maxConcurrent: 1` heals one host at a time and a rule without `heal` only notifies.
 */
export class FleetRules {
  private evaluator: FleetEvaluator | undefined;
  /** Members a heal was asked for during the rule's current alert ("rule\0host"). */
  private readonly asked = new Set<string>();

  constructor(private readonly deps: FleetRuleDeps) {}

  setRules(rules: readonly Rule[], windows: Windows): void {
    const fleet = rules.filter((r) => r.fleet);
    this.evaluator = fleet.length ? new FleetEvaluator(fleet, windows) : undefined;
    this.asked.clear();
  }

  async sample(view: HostView, facts: Record<string, unknown>, now: number): Promise<void> {
    for (const j of this.evaluator?.observe(view, facts, now) ?? []) await this.judged(j, now);
  }

  /** The host stopped reporting: it stays a member, with `host.up` false and no other fact. */
  async hostDown(view: HostView, now: number): Promise<void> {
    const facts = factsOf(view, { seq: 0, ts: now, trigger: 'interval' });
    facts.host = hostFact(view, false);
    await this.sample(view, facts, now);
  }

  /** The host is now held by another controller: it leaves the fleets judged here. */
  async hostGone(host: string, now: number): Promise<void> {
    for (const j of this.evaluator?.remove(host) ?? []) await this.judged(j, now);
  }

  /** A concurrency brake freed a slot: heal the member now if the fleet alert fires and it still meets `where`. */
  async retryDeferred(rule: Rule, host: string): Promise<void> {
    const alert = this.deps.alerting.get(rule.id, FLEET_HOST);
    if (alert?.state === 'firing' && this.evaluator?.holds(rule.id, host)) await this.healMember(rule, alert, host);
  }

  private async judged(j: FleetJudgement, now: number): Promise<void> {
    const { rule } = j;
    if (j.insufficient) this.deps.metrics.rulesNotEnoughData.inc({ rule: rule.id });
    const view: HostView = { id: FLEET_HOST, labels: rule.hosts ?? {} };
    const t = this.deps.alerting.observe(rule, view, j.holds, now, { facts: {}, match: j.holding });
    if (!rule.heal) return;
    const key = `${rule.id}\u0000${j.host}`;
    const alert = this.deps.alerting.get(rule.id, FLEET_HOST);
    // Members to heal are claimed before any await: samples of several members are handled at
    // once, and each member gets one request.
    const claim = (hosts: readonly string[]) => hosts.filter((h) => !this.asked.has(`${rule.id}\u0000${h}`) && this.asked.add(`${rule.id}\u0000${h}`));
    if (t?.to === 'firing' && t.from !== 'firing') await this.healMembers(rule, t.alert, claim(j.holding));
    else if (alert?.state === 'firing' && j.hostHolds) await this.healMembers(rule, alert, claim([j.host]));
    // The member no longer meets `where`: that verifies its heal (after the alert resolved, too).
    if (!j.hostHolds && this.asked.delete(key)) await this.deps.heal.onCleared(rule.id, j.host);
  }

  /** One member after another, so each request sees the ones before it under way (maxConcurrent). */
  private async healMembers(rule: Rule, alert: AlertRecord, hosts: readonly string[]): Promise<void> {
    for (const host of hosts) await this.healMember(rule, alert, host);
  }

  private async healMember(rule: Rule, alert: AlertRecord, host: string): Promise<void> {
    this.asked.add(`${rule.id}\u0000${host}`);
    const order = await this.deps.heal.request(rule, { host, alert, trigger: 'alert' });
    if (order) await this.deps.alerting.linkHeal(alert, order.id);
  }
}
