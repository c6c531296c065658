import type { Clock } from '../clock.js';
import type { HealRecord } from '../model.js';
import type { Metrics } from '../metrics.js';
import type { Rule } from '../rules/schema.js';
import type { Store } from '../store/store.js';
import type { BrakeVerdict } from './brakes/index.js';
import type { Orders } from './orders.js';
import type { Runner } from './runner.js';

export interface ApprovalsDeps {
  orders: Orders;
  runner: Runner;
  store: Store;
  metrics: Metrics;
  clock: Clock;
  rule: (id: string) => Rule | undefined;
  /** The brakes' verdict on an approved order, which runs only if they still allow it. */
  decide: (rule: Rule, order: HealRecord) => Promise<BrakeVerdict>;
  /** The number waiting changed. */
  changed: () => void;
}

/**
 * Work orders of rules with `"approval": "required"`: they wait in `awaiting-approval` until a
 * person approves (then the brakes are asked again and the ladder runs), rejects, or the
 * approval times out (rejected, decision "expired").
 */
export class Approvals {
  constructor(private readonly deps: ApprovalsDeps) {}

  /** The brakes allowed the order; now it waits for a person. */
  async ask(order: HealRecord, rule: Rule, why: string, now: number): Promise<void> {
    const { orders } = this.deps;
    const expires = new Date(now + rule.heal!.approvalTimeout).toISOString();
    order.state = 'awaiting-approval';
    order.reason = `${why}; waiting for approval until ${expires}`;
    order.approval = { expiresAt: expires, decision: null, by: null, at: null, comment: null };
    orders.event(order, 'awaiting-approval', `approve with: laas approve ${order.id}`);
    orders.hold(order);
    this.armExpiry(order);
    orders.notice(
      order,
      'approval-needed',
      `${rule.id} on ${order.host} wants to run ${order.action}; approve with "laas approve ${order.id}" or reject with "laas reject ${order.id}"`,
    );
    this.deps.changed();
    await this.deps.store.putHeal(order);
  }

  /** A person approved a waiting work order: it runs now, if the brakes still allow it. */
  async approve(id: string, by: string, comment = ''): Promise<HealRecord> {
    const { orders, clock } = this.deps;
    const order = orders.waiting(id);
    orders.cancelTimer(order.id);
    order.approval = { ...order.approval!, decision: 'approved', by, at: new Date(clock.now()).toISOString(), comment: comment || null };
    orders.event(order, 'approved', `approved by ${by}${comment ? `: ${comment}` : ''}`);
    const rule = this.deps.rule(order.rule);
    if (!rule?.heal) {
      await orders.finish(order, 'skipped', `approved by ${by}, but rule ${order.rule} no longer heals`);
      return order;
    }
    order.state = 'dispatched';
    order.reason = `approved by ${by}`;
    const verdict = await this.deps.decide(rule, order);
    if (verdict.outcome !== 'allow') {
      order.brake = verdict.kind;
      this.deps.metrics.healSkipped.inc({ rule: rule.id, reason: verdict.kind });
      await orders.finish(order, 'skipped', `approved by ${by}, but ${verdict.reason}`);
      return order;
    }
    this.deps.changed();
    await this.deps.runner.start(order);
    return order;
  }

  async reject(id: string, by: string, comment = ''): Promise<HealRecord> {
    const order = this.deps.orders.waiting(id);
    order.approval = { ...order.approval!, decision: 'rejected', by, at: new Date(this.deps.clock.now()).toISOString(), comment: comment || null };
    await this.deps.orders.finish(order, 'rejected', `rejected by ${by}${comment ? `: ${comment}` : ''}`);
    return order;
  }

  /** No decision by `approvalTimeout`: the order is rejected as expired. */
  armExpiry(order: HealRecord): void {
    this.deps.orders.arm(order, Date.parse(order.approval!.expiresAt), async () => {
      order.approval = { ...order.approval!, decision: 'expired', at: new Date(this.deps.clock.now()).toISOString() };
      await this.deps.orders.finish(order, 'rejected', `approval expired at ${order.approval.expiresAt} with no decision`);
    });
  }
}
