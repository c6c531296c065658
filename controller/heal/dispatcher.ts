import { randomUUID } from 'node:crypto';
import { ACTIONS, type ActionName, type Logger, type Result, type Run } from '../../protocol/index.js';
import type { Metrics } from '../metrics.js';
import type { Rule } from '../rules/schema.js';
import { FINAL_HEAL_STATES, type AlertRecord, type HealRecord, type HealState, type Store } from '../store/store.js';
import { HourlyLimit, limitKey } from './policy.js';

/** How long an agent may take to start an instruction before it must refuse it. */
const START_DEADLINE_MS = 30_000;
/** Extra time past the action timeout before the controller gives up on a result. */
const RESULT_GRACE_MS = 5_000;

export interface HealDeps {
  store: Store;
  metrics: Metrics;
  log: Logger;
  clock: () => number;
  /** Sends an instruction to a connected host; false when the host has no link. */
  send: (host: string, run: Run) => boolean;
  newId?: () => string;
}

/**
 * Turns firing alerts into work orders: checks the policy, sends the instruction, and follows
 * it through ack and result (or timeout). Every step is written to the work order's history.
 */
export class HealDispatcher {
  private readonly limit = new HourlyLimit();
  private readonly open = new Map<string, HealRecord>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly newId: () => string;

  constructor(private readonly deps: HealDeps) {
    this.newId = deps.newId ?? (() => randomUUID());
  }

  /** After a restart: re-arm timeouts of open work orders, and re-seed the hourly limits. */
  async restore(): Promise<void> {
    const since = new Date(this.deps.clock() - 3_600_000).toISOString();
    for (const h of await this.deps.store.listHeals({ since })) {
      if (h.dispatchedAt) this.limit.record(limitKey(h.rule, h.host), Date.parse(h.dispatchedAt));
    }
    for (const h of await this.deps.store.listHeals({ state: 'dispatched' })) {
      this.open.set(h.id, h);
      this.armTimeout(h);
    }
  }

  /** Opens a work order for a firing alert, and dispatches it when policy allows. */
  async request(rule: Rule, alert: AlertRecord, faultAt: number): Promise<HealRecord | undefined> {
    const heal = rule.heal;
    if (!heal) return undefined;
    const now = this.deps.clock();
    const iso = new Date(now).toISOString();
    const timeoutMs = heal.timeout ?? ACTIONS[heal.action as ActionName].defaultTimeoutMs;
    const order: HealRecord = {
      id: this.newId(), alertId: alert.id, rule: rule.id, host: alert.host, action: heal.action, params: { ...heal.params },
      state: 'dispatched', reason: `rule ${rule.id} fired on ${alert.host}`, createdAt: iso, updatedAt: iso,
      faultAt: new Date(faultAt).toISOString(), dispatchedAt: null, ackedAt: null, finishedAt: null, timeoutMs, result: null, history: [],
    };
    const key = limitKey(rule.id, alert.host);
    const verdict = this.limit.check(key, heal.maxPerHour, now);
    if (!verdict.allowed) {
      await this.finish(order, 'skipped', verdict.reason);
      return order;
    }
    const run: Run = { id: order.id, action: heal.action, params: order.params, timeoutMs, deadline: now + START_DEADLINE_MS };
    if (!this.deps.send(alert.host, run)) {
      await this.finish(order, 'failed', `host ${alert.host} is not connected; nothing was sent`);
      return order;
    }
    this.limit.record(key, now);
    order.dispatchedAt = iso;
    this.event(order, 'dispatched', `sent ${heal.action} ${JSON.stringify(heal.params)} to ${alert.host}`);
    this.open.set(order.id, order);
    this.armTimeout(order);
    this.deps.metrics.healDispatched.inc({ rule: rule.id, action: heal.action });
    this.deps.metrics.faultToDispatchSeconds.observe(Math.max(0, now - faultAt) / 1000);
    this.deps.log.info({ heal: order.id, rule: rule.id, host: alert.host, action: heal.action }, 'heal dispatched');
    await this.deps.store.putHeal(order);
    return order;
  }

  /** The agent confirmed it got the instruction. */
  async onAck(host: string, id: string): Promise<void> {
    const order = this.open.get(id);
    if (!order || order.host !== host || order.ackedAt) return;
    order.ackedAt = new Date(this.deps.clock()).toISOString();
    this.event(order, 'acknowledged', `${host} accepted the instruction`);
    await this.deps.store.putHeal(order);
  }

  /**
   * The agent's result. Returns true when it belongs to a work order we know (the caller acks it
   * either way, so the agent stops resending).
   */
  async onResult(host: string, result: Result): Promise<boolean> {
    let order = this.open.get(result.id);
    if (!order) {
      const stored = await this.deps.store.getHeal(result.id);
      if (!stored || stored.host !== host) return false;
      if (!stored.result) { // a late result for an order that timed out: keep what really happened
        stored.result = result;
        this.event(stored, stored.state, `late result after ${stored.state}: ${result.outcome}`);
        await this.deps.store.putHeal(stored);
      }
      return true;
    }
    if (order.host !== host) return false;
    order.result = result;
    const state: HealState = result.outcome === 'succeeded' ? 'succeeded' : result.outcome === 'timed-out' ? 'timed-out' : 'failed';
    const why = result.error ? `${result.error.code}: ${result.error.message}`
      : result.outcome === 'succeeded' ? `${order.action} exited 0` : `${order.action} ${result.outcome} (exit ${result.exitCode ?? result.signal})`;
    if (order.dispatchedAt) this.deps.metrics.healDurationSeconds.observe({ action: order.action }, Math.max(0, this.deps.clock() - Date.parse(order.dispatchedAt)) / 1000);
    await this.finish(order, state, why);
    return true;
  }

  /** Instructions sent but not acknowledged are sent again when their host reconnects. */
  resend(host: string): void {
    for (const order of this.open.values()) {
      if (order.host !== host || order.ackedAt || !order.dispatchedAt) continue;
      const deadline = Date.parse(order.dispatchedAt) + START_DEADLINE_MS;
      this.deps.send(host, { id: order.id, action: order.action, params: order.params, timeoutMs: order.timeoutMs, deadline });
    }
  }

  openOrders(): HealRecord[] {
    return [...this.open.values()];
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private armTimeout(order: HealRecord): void {
    // The agent stops the command at timeoutMs and reports; past that plus a grace, it is lost.
    const due = Date.parse(order.dispatchedAt ?? order.createdAt) + order.timeoutMs + RESULT_GRACE_MS;
    const t = setTimeout(() => {
      this.timers.delete(order.id);
      if (this.open.has(order.id)) void this.finish(order, 'timed-out', `no result within ${(order.timeoutMs + RESULT_GRACE_MS) / 1000}s of dispatch${order.ackedAt ? '' : ' (never acknowledged)'}`);
    }, Math.max(0, due - this.deps.clock()));
    t.unref();
    this.timers.set(order.id, t);
  }

  private async finish(order: HealRecord, state: HealState, reason: string): Promise<void> {
    const now = new Date(this.deps.clock()).toISOString();
    order.state = state;
    order.reason = reason;
    order.finishedAt = FINAL_HEAL_STATES.has(state) ? now : null;
    this.event(order, state, reason);
    this.open.delete(order.id);
    const timer = this.timers.get(order.id);
    if (timer) { clearTimeout(timer); this.timers.delete(order.id); }
    this.deps.metrics.healActions.inc({ rule: order.rule, action: order.action, outcome: state });
    const level = state === 'succeeded' ? 'info' : 'warn';
    this.deps.log[level]({ heal: order.id, rule: order.rule, host: order.host, state, reason }, `heal ${state}`);
    await this.deps.store.putHeal(order);
  }

  private event(order: HealRecord, state: HealRecord['history'][number]['state'], note: string): void {
    const at = new Date(this.deps.clock()).toISOString();
    order.updatedAt = at;
    order.history.push({ at, state, note });
  }
}
