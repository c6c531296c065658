import { randomUUID } from 'node:crypto';
import { ACTIONS, LaasError, type ActionName, type Logger } from '../../protocol/index.js';
import type { Clock, Timer } from '../clock.js';
import { FINAL_HEAL_STATES, type AlertRecord, type HealNoticeKind, type HealRecord, type HealState, type HealStep } from '../model.js';
import type { Metrics } from '../metrics.js';
import type { Rule } from '../rules/schema.js';
import type { Store } from '../store/store.js';

/** What people are told about a work order, besides the alert itself. */
export type NoticeKind = HealNoticeKind;

export interface OrdersDeps {
  store: Store;
  metrics: Metrics;
  log: Logger;
  clock: Clock;
  /** Tells the rule's receivers about a work order; returns who was notified. */
  notify: (order: HealRecord, kind: NoticeKind, text: string) => string[];
  /** An order reached a final state: last words (escalation, breaker) before it is stored. */
  settle: (order: HealRecord) => Promise<void>;
  /** Told once a final order is stored (the queue starts the next heal). */
  onFinished: (order: HealRecord) => Promise<void>;
  newId?: () => string;
}

/**
 * The work orders: one record per incident and heal, and its story — every step, decision and
 * notification goes into its history. Holds the open ones and their timers; what moves an
 * order on is the runner's, the approvals' and the heal service's.
 */
export class Orders {
  private readonly open = new Map<string, HealRecord>();
  private readonly timers = new Map<string, Timer>();
  private readonly newId: () => string;

  constructor(private readonly deps: OrdersDeps) {
    this.newId = deps.newId ?? (() => randomUUID());
  }

  /** A new order for a rule's heal on a host, not yet open. */
  create(rule: Rule, ctx: { host: string; alert?: AlertRecord; faultAt?: number; trigger: 'alert' | 'schedule' }, at: number): HealRecord {
    const heal = rule.heal!;
    const iso = new Date(at).toISOString();
    const id = this.newId();
    const steps: HealStep[] = heal.steps.map((s, i) => ({
      action: s.action,
      params: { ...s.params },
      runId: `${id}.${i}`,
      state: 'pending',
      timeoutMs: s.timeout ?? heal.timeout ?? ACTIONS[s.action as ActionName].defaultTimeoutMs,
      dispatchedAt: null,
      ackedAt: null,
      finishedAt: null,
      result: null,
    }));
    return {
      id,
      alertId: ctx.alert?.id ?? null,
      rule: rule.id,
      host: ctx.host,
      trigger: ctx.trigger,
      mode: rule.effectiveMode,
      action: steps[0].action,
      params: steps[0].params,
      state: 'dispatched',
      reason: '',
      createdAt: iso,
      updatedAt: iso,
      faultAt: ctx.faultAt !== undefined ? new Date(ctx.faultAt).toISOString() : null,
      dispatchedAt: null,
      ackedAt: null,
      finishedAt: null,
      timeoutMs: steps[0].timeoutMs,
      result: null,
      steps,
      step: 0,
      verifyWithinMs: heal.verifyWithin,
      verifyingUntil: null,
      clearedAt: null,
      approval: null,
      notifications: [],
      history: [],
    };
  }

  hold(order: HealRecord): void {
    this.open.set(order.id, order);
  }

  isOpen(id: string): boolean {
    return this.open.has(id);
  }

  list(): HealRecord[] {
    return [...this.open.values()];
  }

  /** Several controllers: the host is another controller's now; its open orders are no longer carried here. */
  release(host: string): string[] {
    const ids: string[] = [];
    for (const o of [...this.open.values()]) {
      if (o.host !== host) continue;
      this.cancelTimer(o.id);
      this.open.delete(o.id);
      ids.push(o.id);
    }
    return ids;
  }

  /** The open order of a rule on a host, other than `except`. */
  openFor(rule: string, host: string, except?: string): HealRecord | undefined {
    for (const o of this.open.values()) if (o.rule === rule && o.host === host && o.id !== except) return o;
    return undefined;
  }

  /** Hosts with a heal under way (sent, not finished), other than `except`. */
  healing(match: (o: HealRecord) => boolean, except: string): string[] {
    const hosts = new Set<string>();
    for (const o of this.open.values()) if (o.state === 'dispatched' && o.host !== except && match(o)) hosts.add(o.host);
    return [...hosts].sort();
  }

  /** The open order and step an instruction id ("<order>.<step>") belongs to. */
  byRun(runId: string): { order: HealRecord; step: HealStep; index: number } | undefined {
    const dot = runId.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const order = this.open.get(runId.slice(0, dot));
    const index = Number(runId.slice(dot + 1));
    const step = order?.steps[index];
    return order && step && step.runId === runId ? { order, step, index } : undefined;
  }

  /** The open order waiting for a person's decision; an error with a code when there is none. */
  waiting(id: string): HealRecord {
    const order = this.open.get(id);
    if (!order) throw new LaasError('HEAL_NOT_FOUND', `no open work order ${JSON.stringify(id)}`);
    if (order.state !== 'awaiting-approval') throw new LaasError('HEAL_NOT_AWAITING_APPROVAL', `work order ${id} is ${order.state}, not awaiting approval`);
    return order;
  }

  event(order: HealRecord, state: string, note: string): void {
    const at = new Date(this.deps.clock.now()).toISOString();
    order.updatedAt = at;
    order.history.push({ at, state, note });
  }

  notice(order: HealRecord, kind: NoticeKind, text: string): void {
    const receivers = this.deps.notify(order, kind, text);
    const at = new Date(this.deps.clock.now()).toISOString();
    for (const receiver of receivers) order.notifications.push({ at, receiver, kind });
    this.event(order, 'notified', receivers.length ? `${kind} sent to ${receivers.join(', ')}` : `${kind}: the rule names no receiver`);
  }

  /** The order reaches a state (final ones close it): recorded, counted, logged and stored. */
  async finish(order: HealRecord, state: HealState, reason: string): Promise<void> {
    const now = this.deps.clock.now();
    order.state = state;
    order.reason = reason;
    order.finishedAt = FINAL_HEAL_STATES.has(state) ? new Date(now).toISOString() : null;
    order.verifyingUntil = null;
    this.event(order, state, reason);
    this.open.delete(order.id);
    this.cancelTimer(order.id);
    this.deps.metrics.healActions.inc({ rule: order.rule, action: order.action, outcome: state });
    const level = state === 'succeeded' || state === 'shadow' ? 'info' : 'warn';
    this.deps.log[level]({ heal: order.id, rule: order.rule, host: order.host, state, reason }, `heal ${state}`);
    await this.deps.settle(order);
    await this.deps.store.putHeal(order);
    await this.deps.onFinished(order);
  }

  /** Calls `fire` at `due` unless the order closed first; one timer per order. */
  arm(order: HealRecord, due: number, fire: () => Promise<void>): void {
    this.cancelTimer(order.id);
    this.timers.set(
      order.id,
      this.deps.clock.after(due - this.deps.clock.now(), () => {
        this.timers.delete(order.id);
        if (!this.open.has(order.id)) return;
        fire().catch((e: unknown) => this.deps.log.error({ heal: order.id, err: (e as Error).message }, 'work order timer failed'));
      }),
    );
  }

  cancelTimer(id: string): void {
    this.timers.get(id)?.cancel();
    this.timers.delete(id);
  }

  close(): void {
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }
}

/** The order's steps in one line, for escalations. */
export function story(order: HealRecord): string {
  return order.steps
    .filter((s) => s.state !== 'pending')
    .map((s, i) => `step ${i + 1} ${s.action}: ${describeResult(s)}`)
    .join('; ');
}

export function describeResult(step: HealStep): string {
  const r = step.result;
  if (!r) return step.state === 'timed-out' ? 'got no result in time' : step.state;
  if (r.error) return `${r.outcome} (${r.error.code}: ${r.error.message})`;
  if (r.outcome === 'succeeded') return 'exited 0';
  return `${r.outcome} (exit ${r.exitCode ?? r.signal})`;
}
