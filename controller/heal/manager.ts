import { randomUUID } from 'node:crypto';
import { ACTIONS, type ActionName, type Logger, type Result, type Run } from '../../protocol/index.js';
import type { Clock, Timer } from '../clock.js';
import type { Metrics } from '../metrics.js';
import type { Rule } from '../rules/schema.js';
import { FINAL_HEAL_STATES, type AlertRecord, type HealRecord, type HealState, type HealStep, type PauseState } from '../model.js';
import type { Store } from '../store/store.js';
import { Breakers, type BreakerView } from './breaker.js';
import { HourlyLimit, hostLimit, limitKey } from './policy.js';

/** How long an agent may take to start an instruction before it must refuse it. */
const START_DEADLINE_MS = 30_000;
/** Extra time past the action timeout before the controller gives up on a result. */
const RESULT_GRACE_MS = 5_000;
const DEFAULT_BREAKER = { failures: 3, window: 3_600_000, resetAfter: 1_800_000 };

export type BrakeKind = 'paused' | 'maintenance' | 'flapping' | 'breaker' | 'cooldown' | 'max-per-hour' | 'max-concurrent' | 'fleet-limit' | 'busy';
type Verdict = { allowed: true } | { allowed: false; kind: BrakeKind; reason: string };

export type { PauseState } from '../model.js';

export type NoticeKind = 'escalation' | 'breaker-open' | 'approval-needed' | 'flapping';

export interface HealDeps {
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
  /** Tells the rule's receivers about a work order; returns who was notified. */
  notify: (order: HealRecord, kind: NoticeKind, text: string) => string[];
  /** How many hosts a rule selects now (the base of a percentage limit). */
  hostsSelected: (rule: Rule) => number;
  fleetSize: () => number;
  /** Hosts healed at once across every rule (count or percentage of the fleet). */
  fleetLimit?: number | string;
  /** A maintenance window or a heal-pausing silence covering the host, or null. */
  hold?: (rule: Rule, host: string) => string | null;
  /** Told when a work order reaches a final state (the scheduler starts the next host). */
  onFinished?: (order: HealRecord) => void | Promise<void>;
  newId?: () => string;
  /** Several controllers: heals in flight fleet-wide (from the database), counted by the limits. */
  inFlight?: () => Promise<{ host: string; rule: string }[]>;
  /** Several controllers: runs a brake decision and its write-ahead alone, fleet-wide. */
  gate?: <T>(fn: () => Promise<T>) => Promise<T>;
}

export class HealError extends Error {
  constructor(readonly status: 404 | 409, message: string) {
    super(message);
  }
}

/**
 * Turns firing alerts (and schedules) into work orders and carries each to the end: brakes
 * first, then approval if the rule wants it, then each step of the ladder — dispatch, ack,
 * result, and verification that the rule's condition cleared — escalating to people when the
 * ladder runs out. Every step and decision goes into the order's history.
 */
export class HealManager {
  private readonly limit = new HourlyLimit();
  private readonly lastStart = new Map<string, number>();
  private breakers = new Breakers();
  private readonly open = new Map<string, HealRecord>();
  private readonly timers = new Map<string, Timer>();
  private readonly rules = new Map<string, Rule>();
  private pauseState: PauseState | null = null;
  private readonly newId: () => string;

  constructor(private readonly deps: HealDeps) {
    this.newId = deps.newId ?? (() => randomUUID());
  }

  setRules(rules: readonly Rule[]): void {
    this.rules.clear();
    for (const r of rules) this.rules.set(r.id, r);
  }

  /** After a restart: pause, breakers, limits, and the timers of every open work order. */
  async restore(owns: (host: string) => boolean = () => true): Promise<void> {
    const { store, clock } = this.deps;
    this.pauseState = (await store.getState('pause')) ?? null;
    this.breakers = new Breakers((await store.getState('breakers')) ?? []);
    const since = new Date(clock.now() - 3_600_000).toISOString();
    for (const h of await store.listHeals({ since })) {
      if (h.dispatchedAt && h.mode === 'enforce') this.noteStart(h.rule, h.host, Date.parse(h.dispatchedAt));
    }
    for (const state of ['dispatched', 'awaiting-approval'] as const) {
      for (const h of await store.listHeals({ state })) if (owns(h.host)) await this.take(h, 'the controller stopped');
    }
    this.gauges();
  }

  /**
   * Several controllers: this one now holds the host's link, so it carries the host's open work
   * orders on — timers armed again, a result that arrived meanwhile applied, unacknowledged
   * instructions sent again.
   */
  async adopt(host: string): Promise<number> {
    let n = 0;
    for (const state of ['dispatched', 'awaiting-approval'] as const) {
      for (const h of await this.deps.store.listHeals({ state, host })) {
        if (this.open.has(h.id)) continue;
        this.event(h, 'adopted', `carried on by this controller, which now holds the link to ${host}`);
        await this.take(h, 'its controller stopped');
        n++;
      }
    }
    this.gauges();
    this.resend(host);
    return n;
  }

  /** Several controllers: another one took the host; its open orders are no longer ours to carry. */
  release(host: string): string[] {
    const ids: string[] = [];
    for (const o of [...this.open.values()]) {
      if (o.host !== host) continue;
      this.cancelTimer(o.id);
      this.open.delete(o.id);
      ids.push(o.id);
    }
    this.gauges();
    return ids;
  }

  /** Several controllers: another controller changed the fleet-wide pause. */
  async reloadPause(): Promise<void> {
    this.pauseState = (await this.deps.store.getState('pause')) ?? null;
    this.gauges();
  }

  /** Carries on an open order read from the store (after a restart, or adopted from another controller). */
  private async take(h: HealRecord, who: string): Promise<void> {
    this.open.set(h.id, h);
    const step = h.steps[h.step];
    if (h.state === 'awaiting-approval') this.armApprovalExpiry(h);
    else if (h.verifyingUntil) this.armVerify(h);
    else if (step?.state === 'dispatched' && step.result) {
      // The agent's result reached a controller while the order had none carrying it.
      const result = step.result;
      step.result = null;
      await this.onResult(h.host, result);
    } else if (step?.state === 'dispatched') this.armStepTimeout(h);
    else await this.finish(h, 'failed', `${who} before step ${h.step + 1} was sent; nothing ran`);
  }

  /** Opens a work order for a fault (or a schedule) on a host, if the rule heals. */
  async request(rule: Rule, ctx: { host: string; alert?: AlertRecord; faultAt?: number; trigger?: 'alert' | 'schedule' }): Promise<HealRecord | undefined> {
    const heal = rule.heal;
    if (!heal) return undefined;
    const now = this.deps.clock.now();
    const iso = new Date(now).toISOString();
    const trigger = ctx.trigger ?? 'alert';
    const busy = this.openFor(rule.id, ctx.host);
    const id = this.newId();
    const steps: HealStep[] = heal.steps.map((s, i) => ({
      action: s.action, params: { ...s.params }, runId: `${id}.${i}`, state: 'pending',
      timeoutMs: s.timeout ?? heal.timeout ?? ACTIONS[s.action as ActionName].defaultTimeoutMs,
      dispatchedAt: null, ackedAt: null, finishedAt: null, result: null,
    }));
    const order: HealRecord = {
      id, alertId: ctx.alert?.id ?? null, rule: rule.id, host: ctx.host, trigger, mode: rule.effectiveMode,
      action: steps[0].action, params: steps[0].params, state: 'dispatched', reason: '', createdAt: iso, updatedAt: iso,
      faultAt: ctx.faultAt !== undefined ? new Date(ctx.faultAt).toISOString() : null, dispatchedAt: null, ackedAt: null, finishedAt: null,
      timeoutMs: steps[0].timeoutMs, result: null, steps, step: 0, verifyWithinMs: heal.verifyWithin, verifyingUntil: null, clearedAt: null,
      approval: null, notifications: [], history: [],
    };
    const why = trigger === 'schedule' ? `schedule "${rule.schedule}" of ${rule.id}` : `rule ${rule.id} fired on ${ctx.host}`;
    this.event(order, 'requested', why);
    // The write-ahead of an order that will run happens inside the decision, so a fleet-wide
    // limit counted from the database sees it before another controller decides.
    const reserve = order.mode === 'enforce' && heal.approval !== 'required' ? order : undefined;
    let verdict: Verdict;
    if (busy) verdict = { allowed: false, kind: 'busy', reason: `work order ${busy.id} for ${rule.id} on ${ctx.host} is still open` };
    else if (!this.deps.gate) verdict = this.brakes(rule, ctx.host, now, [], ctx.alert); // no await between the busy check and open.set
    else {
      // The order holds its rule and host while the fleet-wide decision waits for the gate.
      this.open.set(order.id, order);
      verdict = await this.decide(rule, ctx.host, now, reserve, ctx.alert);
    }
    if (!verdict.allowed) order.brake = verdict.kind;
    if (order.mode === 'shadow') {
      const plan = steps.map((s) => `${s.action} ${JSON.stringify(s.params)}`).join(', then ');
      this.deps.metrics.healShadow.inc({ rule: rule.id });
      await this.finish(order, 'shadow', `shadow mode: would ${verdict.allowed ? 'run' : `not run (${verdict.reason}):`} ${plan} on ${ctx.host}`);
      return order;
    }
    if (!verdict.allowed) {
      if (verdict.kind === 'breaker') this.breakers.noteUnhealthy(rule.id, ctx.host, now);
      this.deps.metrics.healSkipped.inc({ rule: rule.id, reason: verdict.kind });
      // Automation stands back from a flapping fault: people must hear that nothing was done.
      if (verdict.kind === 'flapping') this.recordNotice(order, 'flapping', `${verdict.reason}. Nothing was run on ${ctx.host}.`);
      await this.finish(order, 'skipped', verdict.reason);
      if (verdict.kind === 'breaker') await this.saveBreakers();
      return order;
    }
    if (heal.approval === 'required') {
      order.state = 'awaiting-approval';
      order.reason = `${why}; waiting for approval until ${new Date(now + heal.approvalTimeout).toISOString()}`;
      order.approval = { expiresAt: new Date(now + heal.approvalTimeout).toISOString(), decision: null, by: null, at: null, comment: null };
      this.event(order, 'awaiting-approval', `approve with: laas approve ${order.id}`);
      this.open.set(order.id, order);
      this.armApprovalExpiry(order);
      this.recordNotice(order, 'approval-needed', `${rule.id} on ${ctx.host} wants to run ${order.action}; approve with "laas approve ${order.id}" or reject with "laas reject ${order.id}"`);
      this.gauges();
      await this.deps.store.putHeal(order);
      return order;
    }
    order.reason = why;
    this.open.set(order.id, order);
    await this.start(order);
    return order;
  }

  /** A person approved a waiting work order: it runs now, if the brakes still allow it. */
  async approve(id: string, by: string, comment = ''): Promise<HealRecord> {
    const order = this.waiting(id);
    this.cancelTimer(order.id);
    order.approval = { ...order.approval!, decision: 'approved', by, at: new Date(this.deps.clock.now()).toISOString(), comment: comment || null };
    this.event(order, 'approved', `approved by ${by}${comment ? `: ${comment}` : ''}`);
    const rule = this.rules.get(order.rule);
    if (!rule?.heal) {
      await this.finish(order, 'skipped', `approved by ${by}, but rule ${order.rule} no longer heals`);
      return order;
    }
    order.state = 'dispatched';
    order.reason = `approved by ${by}`;
    const verdict = this.deps.gate ? await this.decide(rule, order.host, this.deps.clock.now(), order) : this.brakes(rule, order.host, this.deps.clock.now());
    if (!verdict.allowed) {
      order.brake = verdict.kind;
      this.deps.metrics.healSkipped.inc({ rule: rule.id, reason: verdict.kind });
      await this.finish(order, 'skipped', `approved by ${by}, but ${verdict.reason}`);
      return order;
    }
    this.gauges();
    await this.start(order);
    return order;
  }

  async reject(id: string, by: string, comment = ''): Promise<HealRecord> {
    const order = this.waiting(id);
    order.approval = { ...order.approval!, decision: 'rejected', by, at: new Date(this.deps.clock.now()).toISOString(), comment: comment || null };
    await this.finish(order, 'rejected', `rejected by ${by}${comment ? `: ${comment}` : ''}`);
    return order;
  }

  /** The agent confirmed it got an instruction. */
  async onAck(host: string, runId: string): Promise<void> {
    const found = this.byRun(runId);
    if (!found || found.order.host !== host || found.step.ackedAt) return;
    const at = new Date(this.deps.clock.now()).toISOString();
    found.step.ackedAt = at;
    found.order.ackedAt ??= at;
    this.event(found.order, 'acknowledged', `${host} accepted step ${found.index + 1} (${found.step.action})`);
    await this.deps.store.putHeal(found.order);
  }

  /** The agent's result for a step; true when it belongs to a work order we know. */
  async onResult(host: string, result: Result): Promise<boolean> {
    const found = this.byRun(result.id);
    if (!found) return this.lateResult(host, result);
    const { order, step, index } = found;
    if (order.host !== host) return false;
    if (step.result) return true; // a resend we already have
    const now = this.deps.clock.now();
    step.result = result;
    step.finishedAt = new Date(now).toISOString();
    step.state = result.outcome === 'succeeded' ? 'succeeded' : result.outcome === 'timed-out' ? 'timed-out' : result.outcome === 'refused' ? 'refused' : 'failed';
    order.result = result;
    if (step.dispatchedAt) this.deps.metrics.healDurationSeconds.observe({ action: step.action }, Math.max(0, now - Date.parse(step.dispatchedAt)) / 1000);
    const what = describeResult(step);
    this.event(order, 'result', `step ${index + 1} (${step.action}): ${what}`);
    if (index !== order.step) {
      await this.deps.store.putHeal(order);
      return true;
    }
    this.cancelTimer(order.id);
    if (order.trigger === 'schedule') {
      if (step.state !== 'succeeded') await this.finish(order, 'failed', `step ${index + 1} (${step.action}) ${what}`);
      else if (index + 1 < order.steps.length) await this.dispatchStep(order, index + 1);
      else await this.finish(order, 'succeeded', `all ${order.steps.length} step${order.steps.length > 1 ? 's' : ''} succeeded`);
      return true;
    }
    if (order.clearedAt) {
      await this.finish(order, 'succeeded', `the condition cleared after step ${index + 1} (${step.action}, which ${what})`);
    } else if (step.state === 'succeeded') {
      order.verifyingUntil = new Date(now + order.verifyWithinMs).toISOString();
      this.event(order, 'verifying', `waiting up to ${order.verifyWithinMs / 1000}s for the condition of ${order.rule} to clear`);
      this.armVerify(order);
      this.deps.requestSample(order.host);
      await this.deps.store.putHeal(order);
    } else {
      await this.nextStepOrFail(order, `step ${index + 1} (${step.action}) ${what}`);
    }
    return true;
  }

  /** The rule's condition cleared on the host (its alert resolved). */
  async onCleared(ruleId: string, host: string): Promise<void> {
    const now = this.deps.clock.now();
    this.breakers.noteUnhealthy(ruleId, host, now);
    const order = this.openFor(ruleId, host);
    if (!order) return;
    if (order.state === 'awaiting-approval') {
      await this.finish(order, 'skipped', 'the problem cleared before anyone approved the heal');
      return;
    }
    order.clearedAt = new Date(now).toISOString();
    this.event(order, 'cleared', `the condition of ${ruleId} cleared`);
    if (order.verifyingUntil) {
      const step = order.steps[order.step];
      const ms = step.finishedAt ? now - Date.parse(step.finishedAt) : 0;
      await this.finish(order, 'succeeded', `the condition cleared ${ms} ms after step ${order.step + 1} (${step.action}) succeeded`);
    } else {
      await this.deps.store.putHeal(order);
    }
  }

  /**
   * The host's agent process restarted: steps it had accepted will never report — unless the
   * agent says it kept their result across the restart (`pending`, from its hello).
   */
  async agentRestarted(host: string, pending: ReadonlySet<string> = new Set()): Promise<void> {
    for (const order of [...this.open.values()]) {
      const step = order.steps[order.step];
      if (order.host !== host || order.state !== 'dispatched' || step?.state !== 'dispatched' || !step.ackedAt || step.result) continue;
      if (pending.has(step.runId)) continue;
      this.cancelTimer(order.id);
      step.state = 'failed';
      step.finishedAt = new Date(this.deps.clock.now()).toISOString();
      const why = `the agent on ${host} restarted while running step ${order.step + 1} (${step.action}); its result is lost`;
      if (order.trigger === 'alert') await this.nextStepOrFail(order, why);
      else await this.finish(order, 'failed', why);
    }
  }

  /** Instructions sent but not acknowledged are sent again when their host reconnects. */
  resend(host: string): void {
    for (const order of this.open.values()) {
      const step = order.steps[order.step];
      if (order.host !== host || order.state !== 'dispatched' || step?.state !== 'dispatched' || step.ackedAt) continue;
      this.deps.send(host, { id: step.runId, host, action: step.action, params: step.params, timeoutMs: step.timeoutMs, deadline: Date.parse(step.dispatchedAt!) + START_DEADLINE_MS });
    }
  }

  async pause(by: string, reason: string): Promise<PauseState> {
    this.pauseState = { by, at: new Date(this.deps.clock.now()).toISOString(), reason };
    await this.deps.store.putState('pause', this.pauseState);
    this.deps.log.warn(this.pauseState, 'automatic heals paused fleet-wide');
    this.gauges();
    return this.pauseState;
  }

  async resume(by: string): Promise<void> {
    this.pauseState = null;
    await this.deps.store.putState('pause', undefined);
    this.deps.log.warn({ by }, 'automatic heals resumed');
    this.gauges();
  }

  paused(): PauseState | null {
    return this.pauseState;
  }

  breakerList(): BreakerView[] {
    return this.breakers.view((rule) => this.breakerConfig(rule).resetAfter);
  }

  async resetBreaker(rule: string, host: string, by: string): Promise<boolean> {
    const done = this.breakers.reset(rule, host);
    if (done) {
      this.deps.log.warn({ rule, host, by }, 'circuit breaker reset by an operator');
      await this.saveBreakers();
    }
    return done;
  }

  /** Hosts with a heal of this rule under way. */
  activeHosts(rule: string): number {
    return this.healingHosts((o) => o.rule === rule, '').length;
  }

  openOrders(): HealRecord[] {
    return [...this.open.values()];
  }

  close(): void {
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }

  // --- inside ---

  /** The brakes' verdict; when it allows and `reserve` is given, that order is written first. */
  private async decide(rule: Rule, host: string, now: number, reserve?: HealRecord, alert?: AlertRecord): Promise<Verdict> {
    return this.deps.gate!(async (): Promise<Verdict> => {
      const fleet = this.deps.inFlight ? await this.deps.inFlight() : [];
      const verdict = this.brakes(rule, host, now, fleet, alert);
      if (verdict.allowed && reserve) {
        await this.deps.store.putHeal(reserve);
        await this.deps.store.flush();
      }
      return verdict;
    });
  }

  private brakes(rule: Rule, host: string, now: number, inFlight: { host: string; rule: string }[] = [], alert?: AlertRecord): Verdict {
    const heal = rule.heal!;
    if (this.pauseState) return { allowed: false, kind: 'paused', reason: `heals are paused fleet-wide by ${this.pauseState.by} since ${this.pauseState.at}${this.pauseState.reason ? ` (${this.pauseState.reason})` : ''}; resume with: laas resume` };
    const hold = this.deps.hold?.(rule, host);
    if (hold) return { allowed: false, kind: 'maintenance', reason: hold };
    if (alert?.flapping) {
      return { allowed: false, kind: 'flapping', reason: `flapping: the condition of ${rule.id} on ${host} changed ${rule.flap.changes} times or more within ${rule.flap.windowMs / 1000}s, so automatic heals wait until it settles; look at it by hand` };
    }
    const breaker = this.breakers.check(rule.id, host, now, heal.breaker, false);
    if (breaker === 'closed-now') this.deps.log.info({ rule: rule.id, host }, 'circuit breaker closed after a healthy period');
    if (breaker === 'open') {
      return { allowed: false, kind: 'breaker', reason: `circuit breaker open for ${rule.id} on ${host} since ${new Date(this.breakers.openedAt(rule.id, host)!).toISOString()}; it closes after ${heal.breaker.resetAfter / 1000}s without the fault, or reset it: laas breakers reset ${rule.id} ${host}` };
    }
    const key = limitKey(rule.id, host);
    const last = this.lastStart.get(key);
    if (heal.cooldown > 0 && last !== undefined && now - last < heal.cooldown) {
      return { allowed: false, kind: 'cooldown', reason: `cooldown ${heal.cooldown / 1000}s: the last heal of ${rule.id} on ${host} started ${Math.round((now - last) / 1000)}s ago` };
    }
    const hourly = this.limit.check(key, heal.maxPerHour, now);
    if (!hourly.allowed) return { allowed: false, kind: 'max-per-hour', reason: hourly.reason };
    const selected = this.deps.hostsSelected(rule);
    const ruleLimit = hostLimit(heal.maxConcurrent, selected);
    const ruleHosts = union(this.healingHosts((o) => o.rule === rule.id, host), inFlight.filter((o) => o.rule === rule.id && o.host !== host).map((o) => o.host));
    if (ruleHosts.length >= ruleLimit) {
      return { allowed: false, kind: 'max-concurrent', reason: `maxConcurrent ${heal.maxConcurrent} (${ruleLimit} of ${selected} host${selected === 1 ? '' : 's'}) reached for ${rule.id}: healing ${ruleHosts.join(', ')}; retried when one finishes` };
    }
    if (this.deps.fleetLimit !== undefined) {
      const fleet = this.deps.fleetSize();
      const fleetLimit = hostLimit(this.deps.fleetLimit, fleet);
      const busy = union(this.healingHosts(() => true, host), inFlight.filter((o) => o.host !== host).map((o) => o.host));
      if (busy.length >= fleetLimit) {
        return { allowed: false, kind: 'fleet-limit', reason: `fleet-wide limit ${this.deps.fleetLimit} (${fleetLimit} of ${fleet} hosts) reached: healing ${busy.join(', ')}; retried when one finishes` };
      }
    }
    return { allowed: true };
  }

  /** Hosts with a heal under way (sent, not finished), other than `except`. */
  private healingHosts(match: (o: HealRecord) => boolean, except: string): string[] {
    const hosts = new Set<string>();
    for (const o of this.open.values()) if (o.state === 'dispatched' && o.host !== except && match(o)) hosts.add(o.host);
    return [...hosts].sort();
  }

  private async start(order: HealRecord): Promise<void> {
    this.noteStart(order.rule, order.host, this.deps.clock.now());
    await this.dispatchStep(order, 0);
  }

  private noteStart(rule: string, host: string, at: number): void {
    const key = limitKey(rule, host);
    this.limit.record(key, at);
    this.lastStart.set(key, Math.max(this.lastStart.get(key) ?? 0, at));
  }

  private async dispatchStep(order: HealRecord, index: number): Promise<void> {
    const now = this.deps.clock.now();
    const step = order.steps[index];
    order.step = index;
    order.action = step.action;
    order.params = step.params;
    order.timeoutMs = step.timeoutMs;
    order.verifyingUntil = null;
    const run: Run = { id: step.runId, host: order.host, action: step.action, params: step.params, timeoutMs: step.timeoutMs, deadline: now + START_DEADLINE_MS };
    const of = order.steps.length > 1 ? ` (step ${index + 1} of ${order.steps.length})` : '';
    const notSent = async () => {
      step.state = 'failed';
      step.dispatchedAt = null;
      if (index === 0) order.dispatchedAt = null;
      await this.finish(order, 'failed', `host ${order.host} is not connected; nothing was sent${of}`);
    };
    if (this.deps.isConnected && !this.deps.isConnected(order.host)) return notSent();
    const iso = new Date(now).toISOString();
    step.state = 'dispatched';
    step.dispatchedAt = iso;
    order.dispatchedAt ??= iso;
    this.event(order, 'dispatched', `sent ${step.action} ${JSON.stringify(step.params)} to ${order.host}${of}`);
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
      this.event(order, 'next-step', `${why}; trying step ${order.step + 2}`);
      await this.dispatchStep(order, order.step + 1);
      return;
    }
    const reason = order.steps.length > 1 ? `all ${order.steps.length} steps tried; ${why}` : why;
    await this.finish(order, 'failed', reason);
  }

  private async finish(order: HealRecord, state: HealState, reason: string): Promise<void> {
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
    if ((state === 'failed' || state === 'timed-out') && order.dispatchedAt) {
      this.recordNotice(order, 'escalation', `automatic heal ${state} for ${order.rule} on ${order.host}: ${reason}. ${this.story(order)}`);
      this.deps.metrics.healEscalations.inc({ rule: order.rule });
      const rule = this.rules.get(order.rule);
      if (this.breakers.recordFailure(order.rule, order.host, now, this.breakerConfig(order.rule))) {
        const cfg = this.breakerConfig(order.rule);
        this.event(order, 'breaker-open', `circuit breaker opened for ${order.rule} on ${order.host}: ${cfg.failures} failed heals within ${cfg.window / 1000}s`);
        this.recordNotice(order, 'breaker-open', `circuit breaker opened for ${order.rule} on ${order.host} after ${cfg.failures} failed heals; no automatic heals there until it has been healthy for ${cfg.resetAfter / 1000}s (or: laas breakers reset ${order.rule} ${order.host})`);
        this.deps.log.warn({ rule: order.rule, host: order.host, known: Boolean(rule) }, 'circuit breaker opened');
      }
      await this.saveBreakers();
    }
    this.gauges();
    await this.deps.store.putHeal(order);
    await this.deps.onFinished?.(order);
  }

  private recordNotice(order: HealRecord, kind: NoticeKind, text: string): void {
    const receivers = this.deps.notify(order, kind, text);
    const at = new Date(this.deps.clock.now()).toISOString();
    for (const receiver of receivers) order.notifications.push({ at, receiver, kind });
    this.event(order, 'notified', receivers.length ? `${kind} sent to ${receivers.join(', ')}` : `${kind}: the rule names no receiver`);
  }

  /** The order's steps in one line, for escalations. */
  private story(order: HealRecord): string {
    return order.steps.filter((s) => s.state !== 'pending').map((s, i) => `step ${i + 1} ${s.action}: ${describeResult(s)}`).join('; ');
  }

  private breakerConfig(rule: string) {
    return this.rules.get(rule)?.heal?.breaker ?? DEFAULT_BREAKER;
  }

  private async saveBreakers(): Promise<void> {
    await this.deps.store.putState('breakers', this.breakers.toJSON());
    this.deps.metrics.breakersOpen.set(this.breakers.openCount());
  }

  private async lateResult(host: string, result: Result): Promise<boolean> {
    const dot = result.id.lastIndexOf('.');
    const stored = await this.deps.store.getHeal(dot > 0 ? result.id.slice(0, dot) : result.id);
    if (!stored || stored.host !== host) return false;
    const step = stored.steps[Number(result.id.slice(dot + 1))];
    if (step && !step.result) { // a result after the order ended: keep what really happened
      step.result = result;
      this.event(stored, stored.state, `late result for step ${Number(result.id.slice(dot + 1)) + 1} after ${stored.state}: ${result.outcome}`);
      await this.deps.store.putHeal(stored);
    }
    return true;
  }

  private byRun(runId: string): { order: HealRecord; step: HealStep; index: number } | undefined {
    const dot = runId.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const order = this.open.get(runId.slice(0, dot));
    const index = Number(runId.slice(dot + 1));
    const step = order?.steps[index];
    return order && step && step.runId === runId ? { order, step, index } : undefined;
  }

  private openFor(rule: string, host: string): HealRecord | undefined {
    for (const o of this.open.values()) if (o.rule === rule && o.host === host) return o;
    return undefined;
  }

  private waiting(id: string): HealRecord {
    const order = this.open.get(id);
    if (!order) throw new HealError(404, `no open work order ${JSON.stringify(id)}`);
    if (order.state !== 'awaiting-approval') throw new HealError(409, `work order ${id} is ${order.state}, not awaiting approval`);
    return order;
  }

  private armStepTimeout(order: HealRecord): void {
    const step = order.steps[order.step];
    const due = Date.parse(step.dispatchedAt!) + step.timeoutMs + RESULT_GRACE_MS;
    this.arm(order, due, async () => {
      step.state = 'timed-out';
      const why = `no result for step ${order.step + 1} (${step.action}) within ${(step.timeoutMs + RESULT_GRACE_MS) / 1000}s of dispatch${step.ackedAt ? '' : ' (never acknowledged)'}`;
      // The agent may still be running it: do not start the next step on top of it.
      if (order.clearedAt && order.trigger === 'alert') await this.finish(order, 'succeeded', `the condition cleared, though ${why}`);
      else await this.finish(order, 'timed-out', why);
    });
  }

  private armVerify(order: HealRecord): void {
    this.arm(order, Date.parse(order.verifyingUntil!), async () => {
      const step = order.steps[order.step];
      await this.nextStepOrFail(order, `the condition still held ${order.verifyWithinMs / 1000}s after step ${order.step + 1} (${step.action}) succeeded`);
    });
  }

  private armApprovalExpiry(order: HealRecord): void {
    this.arm(order, Date.parse(order.approval!.expiresAt), async () => {
      order.approval = { ...order.approval!, decision: 'expired', at: new Date(this.deps.clock.now()).toISOString() };
      await this.finish(order, 'rejected', `approval expired at ${order.approval.expiresAt} with no decision`);
    });
  }

  private arm(order: HealRecord, due: number, fire: () => Promise<void>): void {
    this.cancelTimer(order.id);
    this.timers.set(order.id, this.deps.clock.after(due - this.deps.clock.now(), () => {
      this.timers.delete(order.id);
      if (!this.open.has(order.id)) return;
      fire().catch((e: unknown) => this.deps.log.error({ heal: order.id, err: (e as Error).message }, 'work order timer failed'));
    }));
  }

  private cancelTimer(id: string): void {
    this.timers.get(id)?.cancel();
    this.timers.delete(id);
  }

  private event(order: HealRecord, state: string, note: string): void {
    const at = new Date(this.deps.clock.now()).toISOString();
    order.updatedAt = at;
    order.history.push({ at, state, note });
  }

  private gauges(): void {
    let waiting = 0;
    for (const o of this.open.values()) if (o.state === 'awaiting-approval') waiting++;
    this.deps.metrics.approvalsPending.set(waiting);
    this.deps.metrics.healPaused.set(this.pauseState ? 1 : 0);
    this.deps.metrics.breakersOpen.set(this.breakers.openCount());
  }
}

function union(a: string[], b: string[]): string[] {
  return [...new Set([...a, ...b])].sort();
}

function describeResult(step: HealStep): string {
  const r = step.result;
  if (!r) return step.state === 'timed-out' ? 'got no result in time' : step.state;
  if (r.error) return `${r.outcome} (${r.error.code}: ${r.error.message})`;
  if (r.outcome === 'succeeded') return 'exited 0';
  return `${r.outcome} (exit ${r.exitCode ?? r.signal})`;
}
