import type { Logger, Result, Run } from '../../protocol/index.js';
import type { Clock } from '../clock.js';
import type { HealRecord } from '../model.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/store.js';
import { describeResult, type Orders } from './orders.js';
import type { Starts } from './starts.js';

/** How long an agent may take to start an instruction before it must refuse it. */
export const START_DEADLINE_MS = 30_000;
/** Extra time past the action timeout before the controller gives up on a result. */
const RESULT_GRACE_MS = 5_000;

export interface RunnerDeps {
  orders: Orders;
  starts: Starts;
  store: Store;
  metrics: Metrics;
  log: Logger;
  clock: Clock;
  /** Sends an instruction to a connected host; false when the host has no link. */
  send: (host: string, run: Run) => boolean;
  /** Whether a host has a link now (checked before the write-ahead of a dispatch). */
  isConnected?: (host: string) => boolean;
  /** Asks a host for a fresh sample now, to verify a step without waiting for the next one. */
  requestSample: (host: string) => void;
}

/**
 * Carries a work order up its ladder: dispatch each step (written ahead, then sent), take the
 * agent's ack and result, wait for the rule's condition to clear (verification), and go to
 * the next step — or end the order — when a step fails, times out, or fixes nothing.
 */
export class Runner {
  constructor(private readonly deps: RunnerDeps) {}

  /** The order may run: its first step goes out. */
  async start(order: HealRecord): Promise<void> {
    this.deps.starts.record(order.rule, order.host, this.deps.clock.now());
    await this.dispatchStep(order, 0);
  }

  /** Carries on an open, dispatched order read from the store (after a restart, or adopted). */
  async resume(h: HealRecord, who: string): Promise<void> {
    const step = h.steps[h.step];
    if (h.verifyingUntil) this.armVerify(h);
    else if (step?.state === 'dispatched' && step.result) {
      // The agent's result reached a controller while the order had none carrying it.
      const result = step.result;
      step.result = null;
      await this.onResult(h.host, result);
    } else if (step?.state === 'dispatched') this.armStepTimeout(h);
    else await this.deps.orders.finish(h, 'failed', `${who} before step ${h.step + 1} was sent; nothing ran`);
  }

  /** The agent confirmed it got an instruction. */
  async onAck(host: string, runId: string): Promise<void> {
    const found = this.deps.orders.byRun(runId);
    if (!found || found.order.host !== host || found.step.ackedAt) return;
    const at = new Date(this.deps.clock.now()).toISOString();
    found.step.ackedAt = at;
    found.order.ackedAt ??= at;
    this.deps.orders.event(found.order, 'acknowledged', `${host} accepted step ${found.index + 1} (${found.step.action})`);
    await this.deps.store.putHeal(found.order);
  }

  /** The agent's result for a step; true when it belongs to a work order we know. */
  async onResult(host: string, result: Result): Promise<boolean> {
    const { orders, clock } = this.deps;
    const found = orders.byRun(result.id);
    if (!found) return this.lateResult(host, result);
    const { order, step, index } = found;
    if (order.host !== host) return false;
    if (step.result) return true; // a resend we already have
    const now = clock.now();
    step.result = result;
    step.finishedAt = new Date(now).toISOString();
    step.state =
      result.outcome === 'succeeded' ? 'succeeded' : result.outcome === 'timed-out' ? 'timed-out' : result.outcome === 'refused' ? 'refused' : 'failed';
    order.result = result;
    if (step.dispatchedAt) this.deps.metrics.healDurationSeconds.observe({ action: step.action }, Math.max(0, now - Date.parse(step.dispatchedAt)) / 1000);
    const what = describeResult(step);
    orders.event(order, 'result', `step ${index + 1} (${step.action}): ${what}`);
    if (index !== order.step) {
      await this.deps.store.putHeal(order);
      return true;
    }
    orders.cancelTimer(order.id);
    if (order.trigger === 'schedule') {
      if (step.state !== 'succeeded') await orders.finish(order, 'failed', `step ${index + 1} (${step.action}) ${what}`);
      else if (index + 1 < order.steps.length) await this.dispatchStep(order, index + 1);
      else await orders.finish(order, 'succeeded', `all ${order.steps.length} step${order.steps.length > 1 ? 's' : ''} succeeded`);
      return true;
    }
    if (order.clearedAt) {
      await orders.finish(order, 'succeeded', `the condition cleared after step ${index + 1} (${step.action}, which ${what})`);
    } else if (step.state === 'succeeded') {
      order.verifyingUntil = new Date(now + order.verifyWithinMs).toISOString();
      orders.event(order, 'verifying', `waiting up to ${order.verifyWithinMs / 1000}s for the condition of ${order.rule} to clear`);
      this.armVerify(order);
      this.deps.requestSample(order.host);
      await this.deps.store.putHeal(order);
    } else {
      await this.nextStepOrFail(order, `step ${index + 1} (${step.action}) ${what}`);
    }
    return true;
  }

  /** The rule's condition cleared on the host: a step waiting for that is verified. */
  async onCleared(order: HealRecord): Promise<void> {
    const now = this.deps.clock.now();
    order.clearedAt = new Date(now).toISOString();
    this.deps.orders.event(order, 'cleared', `the condition of ${order.rule} cleared`);
    if (order.verifyingUntil) {
      const step = order.steps[order.step];
      const ms = step.finishedAt ? now - Date.parse(step.finishedAt) : 0;
      await this.deps.orders.finish(order, 'succeeded', `the condition cleared ${ms} ms after step ${order.step + 1} (${step.action}) succeeded`);
    } else {
      await this.deps.store.putHeal(order);
    }
  }

  /**
   * The host's agent process restarted: steps it had accepted will never report — unless the
   * agent says it kept their result across the restart (`pending`, from its hello).
   */
  async agentRestarted(host: string, pending: ReadonlySet<string>): Promise<void> {
    for (const order of this.deps.orders.list()) {
      const step = order.steps[order.step];
      if (order.host !== host || order.state !== 'dispatched' || step?.state !== 'dispatched' || !step.ackedAt || step.result) continue;
      if (pending.has(step.runId)) continue;
      this.deps.orders.cancelTimer(order.id);
      step.state = 'failed';
      step.finishedAt = new Date(this.deps.clock.now()).toISOString();
      const why = `the agent on ${host} restarted while running step ${order.step + 1} (${step.action}); its result is lost`;
      if (order.trigger === 'alert') await this.nextStepOrFail(order, why);
      else await this.deps.orders.finish(order, 'failed', why);
    }
  }

  /** Instructions sent but not acknowledged are sent again when their host reconnects. */
  resend(host: string): void {
    for (const order of this.deps.orders.list()) {
      const step = order.steps[order.step];
      if (order.host !== host || order.state !== 'dispatched' || step?.state !== 'dispatched' || step.ackedAt) continue;
      this.deps.send(host, {
        id: step.runId,
        host,
        action: step.action,
        params: step.params,
        timeoutMs: step.timeoutMs,
        deadline: Date.parse(step.dispatchedAt!) + START_DEADLINE_MS,
      });
    }
  }

  private async dispatchStep(order: HealRecord, index: number): Promise<void> {
    const { orders, clock } = this.deps;
    const now = clock.now();
    const step = order.steps[index];
    order.step = index;
    order.action = step.action;
    order.params = step.params;
    order.timeoutMs = step.timeoutMs;
    order.verifyingUntil = null;
    const run: Run = {
      id: step.runId,
      host: order.host,
      action: step.action,
      params: step.params,
      timeoutMs: step.timeoutMs,
      deadline: now + START_DEADLINE_MS,
    };
    const of = order.steps.length > 1 ? ` (step ${index + 1} of ${order.steps.length})` : '';
    const notSent = async () => {
      step.state = 'failed';
      step.dispatchedAt = null;
      if (index === 0) order.dispatchedAt = null;
      await orders.finish(order, 'failed', `host ${order.host} is not connected; nothing was sent${of}`);
    };
    if (this.deps.isConnected && !this.deps.isConnected(order.host)) return notSent();
    const iso = new Date(now).toISOString();
    step.state = 'dispatched';
    step.dispatchedAt = iso;
    order.dispatchedAt ??= iso;
    orders.event(order, 'dispatched', `sent ${step.action} ${JSON.stringify(step.params)} to ${order.host}${of}`);
    // Write ahead: the record of what is sent reaches the disk before the instruction leaves,
    // so a controller crash right after can neither lose it nor forget to follow it up.
    await this.deps.store.putHeal(order);
    await this.deps.store.flush();
    if (!this.deps.send(order.host, run)) return notSent();
    this.deps.metrics.healDispatched.inc({ rule: order.rule, action: step.action });
    if (index === 0 && order.faultAt) this.deps.metrics.faultToDispatchSeconds.observe(Math.max(0, now - Date.parse(order.faultAt)) / 1000);
    this.deps.log.info({ heal: order.id, rule: order.rule, host: order.host, action: step.action, step: index + 1 }, 'heal dispatched');
    this.armStepTimeout(order);
  }

  private async nextStepOrFail(order: HealRecord, why: string): Promise<void> {
    if (order.step + 1 < order.steps.length) {
      this.deps.orders.event(order, 'next-step', `${why}; trying step ${order.step + 2}`);
      await this.dispatchStep(order, order.step + 1);
      return;
    }
    const reason = order.steps.length > 1 ? `all ${order.steps.length} steps tried; ${why}` : why;
    await this.deps.orders.finish(order, 'failed', reason);
  }

  /** A result after its order ended: kept on the record for what really happened. */
  private async lateResult(host: string, result: Result): Promise<boolean> {
    const dot = result.id.lastIndexOf('.');
    const stored = await this.deps.store.getHeal(dot > 0 ? result.id.slice(0, dot) : result.id);
    if (!stored || stored.host !== host) return false;
    const step = stored.steps[Number(result.id.slice(dot + 1))];
    if (step && !step.result) {
      step.result = result;
      this.deps.orders.event(stored, stored.state, `late result for step ${Number(result.id.slice(dot + 1)) + 1} after ${stored.state}: ${result.outcome}`);
      await this.deps.store.putHeal(stored);
    }
    return true;
  }

  private armStepTimeout(order: HealRecord): void {
    const step = order.steps[order.step];
    const due = Date.parse(step.dispatchedAt!) + step.timeoutMs + RESULT_GRACE_MS;
    this.deps.orders.arm(order, due, async () => {
      step.state = 'timed-out';
      const why = `no result for step ${order.step + 1} (${step.action}) within ${(step.timeoutMs + RESULT_GRACE_MS) / 1000}s of dispatch${step.ackedAt ? '' : ' (never acknowledged)'}`;
      // The agent may still be running it: do not start the next step on top of it.
      if (order.clearedAt && order.trigger === 'alert') await this.deps.orders.finish(order, 'succeeded', `the condition cleared, though ${why}`);
      else await this.deps.orders.finish(order, 'timed-out', why);
    });
  }

  private armVerify(order: HealRecord): void {
    this.deps.orders.arm(order, Date.parse(order.verifyingUntil!), async () => {
      const step = order.steps[order.step];
      await this.nextStepOrFail(order, `the condition still held ${order.verifyWithinMs / 1000}s after step ${order.step + 1} (${step.action}) succeeded`);
    });
  }
}
