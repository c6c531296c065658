import { errorMessage, type Logger, type Result, type Run } from '../../protocol/index.js';
import type { Clock } from '../clock.js';
import type { AlertRecord, HealRecord, PauseState } from '../model.js';
import type { Metrics } from '../metrics.js';
import type { Rule } from '../rules/schema.js';
import type { Store } from '../store/store.js';
import { Approvals } from './approvals.js';
import { judge, type Brake, type BrakeContext, type BrakeFacts, type BrakeVerdict, type InFlight } from './brakes/index.js';
import { BrakeState } from './brake-state.js';
import { Carry } from './carry.js';
import type { BreakerView } from './breaker.js';
import { escalate } from './escalate.js';
import { Orders, type NoticeKind } from './orders.js';
import { hostLimit } from './policy.js';
import { HealQueue } from './queue.js';
import { Runner } from './runner.js';
import { Starts } from './starts.js';

export type { NoticeKind } from './orders.js';
export type { PauseState } from '../model.js';

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
  /**
   * Several controllers: a brake decision that counts heals fleet-wide runs through here, alone
   * fleet-wide, with the heals in flight on every controller. Absent for one controller.
   */
  fleet?: {
    decide<T>(fn: (inFlight: InFlight[]) => Promise<T>): Promise<T>;
    /** A heal ended here: the other controllers' waiting heals may take its slot. */
    freed?(): Promise<void>;
  };
  /** A deferred heal's turn came (a slot freed): heal its alert again if it still fires. */
  retry?: (rule: string, host: string) => Promise<void>;
  newId?: () => string;
}

/**
 * Turns firing alerts (and schedules) into work orders and carries each to the end. Every heal
 * asks the brakes first (brakes/: the first that stops it writes its kind and reason on the
 * order), then waits for a person if the rule wants approval (approvals.ts), then runs its
 * ladder (runner.ts); the record of it all is the work order (orders.ts). Heals a concurrency
 * brake deferred, and scheduled runs, wait in the queue (queue.ts) for a free slot.
 */
export class HealService {
  private readonly rules = new Map<string, Rule>();
  private readonly starts = new Starts();
  private readonly state: BrakeState;
  private readonly orders: Orders;
  private readonly runner: Runner;
  private readonly approvals: Approvals;
  private readonly queue = new HealQueue();
  private readonly facts: BrakeFacts;
  private readonly carry: Carry;

  constructor(private readonly deps: HealDeps) {
    this.state = new BrakeState({ ...deps, breakerOf: (rule) => this.rules.get(rule)?.heal?.breaker });
    this.orders = new Orders({
      store: deps.store,
      metrics: deps.metrics,
      log: deps.log,
      clock: deps.clock,
      notify: deps.notify,
      newId: deps.newId,
      settle: (order) => this.settle(order),
      onFinished: (order) => this.finished(order),
    });
    this.runner = new Runner({
      orders: this.orders,
      starts: this.starts,
      store: deps.store,
      metrics: deps.metrics,
      log: deps.log,
      clock: deps.clock,
      send: deps.send,
      isConnected: deps.isConnected,
      requestSample: deps.requestSample,
    });
    this.approvals = new Approvals({
      orders: this.orders,
      runner: this.runner,
      store: deps.store,
      metrics: deps.metrics,
      clock: deps.clock,
      rule: (id) => this.rules.get(id),
      changed: () => this.gauges(),
      decide: async (rule, order) =>
        (await this.decide({ rule, heal: rule.heal!, host: order.host, now: deps.clock.now(), order: order.id, inFlight: [] }, order)).verdict,
    });
    this.carry = new Carry({ store: deps.store, clock: deps.clock, orders: this.orders, runner: this.runner, approvals: this.approvals, starts: this.starts });
    this.facts = {
      paused: () => this.state.paused(),
      hold: (rule, host) => deps.hold?.(rule, host) ?? null,
      breakers: () => this.state.breakers(),
      saveBreakers: () => this.state.saveBreakers(),
      starts: this.starts,
      openFor: (rule, host, except) => this.orders.openFor(rule, host, except),
      healing: (match, except) => this.orders.healing(match, except),
      hostsSelected: deps.hostsSelected,
      fleetSize: deps.fleetSize,
      fleetLimit: deps.fleetLimit,
      log: deps.log,
    };
  }

  setRules(rules: readonly Rule[]): void {
    this.rules.clear();
    for (const r of rules) this.rules.set(r.id, r);
  }

  /** After a restart: pause, breakers, limits, and the timers of every open work order. */
  async restore(owns: (host: string) => boolean = () => true): Promise<void> {
    await this.state.restore();
    await this.carry.restore(owns);
    this.gauges();
  }

  /**
   * Several controllers: this one now holds the host's link, so it carries the host's open work
   * orders on — timers armed again, a result that arrived meanwhile applied, unacknowledged
   * instructions sent again.
   */
  async adopt(host: string): Promise<number> {
    const n = await this.carry.adopt(host);
    this.gauges();
    this.runner.resend(host);
    return n;
  }

  /** Several controllers: another one took the host; its open orders are no longer ours to carry. */
  release(host: string): string[] {
    const ids = this.orders.release(host);
    this.queue.forget(host);
    this.gauges();
    return ids;
  }

  /** Several controllers: another controller changed the fleet-wide pause. */
  reloadPause(): Promise<void> {
    return this.state.reloadPause();
  }

  /** Opens a work order for a fault (or a schedule) on a host, if the rule heals. */
  async request(rule: Rule, ctx: { host: string; alert?: AlertRecord; faultAt?: number; trigger?: 'alert' | 'schedule' }): Promise<HealRecord | undefined> {
    const heal = rule.heal;
    if (!heal) return undefined;
    const { orders } = this;
    const trigger = ctx.trigger ?? 'alert';
    const now = this.deps.clock.now();
    const order = orders.create(rule, { ...ctx, trigger }, now);
    const why = trigger === 'schedule' ? `schedule "${rule.schedule}" of ${rule.id}` : `rule ${rule.id} fired on ${ctx.host}`;
    orders.event(order, 'requested', why);
    const brakeCtx: BrakeContext = { rule, heal, host: ctx.host, now, order: order.id, alert: ctx.alert, inFlight: [] };
    // The write-ahead of an order that will run happens inside a fleet-wide decision, so the
    // limits counted from the database see it before another controller decides.
    const reserve = order.mode === 'enforce' && heal.approval !== 'required' ? order : undefined;
    const { verdict, brake } = await this.decide(brakeCtx, reserve);
    if (verdict.outcome !== 'allow') order.brake = verdict.kind;
    if (order.mode === 'shadow') {
      const plan = order.steps.map((s) => `${s.action} ${JSON.stringify(s.params)}`).join(', then ');
      this.deps.metrics.healShadow.inc({ rule: rule.id });
      await orders.finish(order, 'shadow', `shadow mode: would ${verdict.outcome === 'allow' ? 'run' : `not run (${verdict.reason}):`} ${plan} on ${ctx.host}`);
      return order;
    }
    if (verdict.outcome !== 'allow') {
      this.deps.metrics.healSkipped.inc({ rule: rule.id, reason: verdict.kind });
      await brake?.stopped?.(brakeCtx, this.facts);
      // Automation stands back from a flapping fault: people must hear that nothing was done.
      if (brake?.notice) orders.notice(order, brake.notice, `${verdict.reason}. Nothing was run on ${ctx.host}.`);
      await orders.finish(order, 'skipped', verdict.reason);
      if (verdict.outcome === 'defer') {
        if (trigger === 'alert') this.queue.defer(rule.id, ctx.host);
        else this.queue.putBack(rule.id, ctx.host);
      }
      return order;
    }
    orders.hold(order);
    if (heal.approval === 'required') {
      await this.approvals.ask(order, rule, why, brakeCtx.now);
      return order;
    }
    order.reason = why;
    await this.runner.start(order);
    return order;
  }

  approve(id: string, by: string, comment = ''): Promise<HealRecord> {
    return this.approvals.approve(id, by, comment);
  }

  reject(id: string, by: string, comment = ''): Promise<HealRecord> {
    return this.approvals.reject(id, by, comment);
  }

  /**
   * A scheduled rule's turn: its steps run on these hosts, at most maxConcurrent at a time (the
   * rest wait their turn in the queue).
   */
  async runSchedule(rule: Rule, hosts: readonly string[]): Promise<void> {
    this.queue.enqueue(rule.id, hosts);
    await this.drain(rule.id);
  }

  onAck(host: string, runId: string): Promise<void> {
    return this.runner.onAck(host, runId);
  }

  onResult(host: string, result: Result): Promise<boolean> {
    return this.runner.onResult(host, result);
  }

  /** The rule's condition cleared on the host: a deferred heal is not needed, a running one may be verified. */
  async onCleared(ruleId: string, host: string): Promise<void> {
    this.state.noteUnhealthy(ruleId, host);
    this.queue.cancel(ruleId, host);
    const order = this.orders.openFor(ruleId, host);
    if (!order) return;
    if (order.state === 'awaiting-approval') await this.orders.finish(order, 'skipped', 'the problem cleared before anyone approved the heal');
    else await this.runner.onCleared(order);
  }

  /** The host's agent process restarted (see Runner.agentRestarted). */
  agentRestarted(host: string, pending: ReadonlySet<string> = new Set()): Promise<void> {
    return this.runner.agentRestarted(host, pending);
  }

  resend(host: string): void {
    this.runner.resend(host);
  }

  pause(by: string, reason: string): Promise<PauseState> {
    return this.state.pause(by, reason);
  }

  resume(by: string): Promise<void> {
    return this.state.resume(by);
  }

  paused(): PauseState | null {
    return this.state.paused();
  }

  breakerList(): BreakerView[] {
    return this.state.breakerList();
  }

  resetBreaker(rule: string, host: string, by: string): Promise<boolean> {
    return this.state.resetBreaker(rule, host, by);
  }

  /** Hosts with a heal of this rule under way. */
  activeHosts(rule: string): number {
    return this.orders.healing((o) => o.rule === rule, '').length;
  }

  openOrders(): HealRecord[] {
    return this.orders.list();
  }

  close(): void {
    this.orders.close();
  }

  /**
   * A slot counted by the concurrency brakes freed (a heal ended here, or on another controller):
   * the scheduled hosts waiting, then the deferred firing alerts, may take it.
   */
  async slotFreed(): Promise<void> {
    for (const rule of this.queue.waitingRules()) await this.drain(rule);
    if (!this.deps.retry) return;
    for (const d of this.queue.takeDeferred()) await this.deps.retry(d.rule, d.host);
  }

  // --- inside ---

  /** The brakes' verdict; when it allows and `reserve` is given, that order is written first. */
  private async decide(ctx: BrakeContext, reserve?: HealRecord): Promise<{ verdict: BrakeVerdict; brake?: Brake }> {
    const { fleet } = this.deps;
    // One controller: judged at once, with no await between the busy check and holding the order.
    if (!fleet) return judge(ctx, this.facts);
    // The order holds its rule and host while the fleet-wide decision waits its turn.
    if (reserve) this.orders.hold(reserve);
    return fleet.decide(async (inFlight) => {
      const out = judge({ ...ctx, inFlight }, this.facts);
      if (out.verdict.outcome === 'allow' && reserve) {
        await this.deps.store.putHeal(reserve);
        await this.deps.store.flush();
      }
      return out;
    });
  }

  /** A final order's last words: a failed heal escalates to people and counts toward its breaker. */
  private async settle(order: HealRecord): Promise<void> {
    if ((order.state === 'failed' || order.state === 'timed-out') && order.dispatchedAt) {
      const { metrics, log } = this.deps;
      await escalate(order, { orders: this.orders, state: this.state, metrics, log, ruleLoaded: this.rules.has(order.rule) });
    }
    this.gauges();
  }

  /** A heal ended: the next scheduled host, or a deferred firing alert, may take its slot; the other controllers' too. */
  private async finished(order: HealRecord): Promise<void> {
    if (order.state === 'skipped') return;
    this.deps.fleet
      ?.freed?.()
      .catch((e: unknown) =>
        this.deps.log.warn(
          { err: errorMessage(e) },
          'telling the other controllers a heal slot freed failed; their waiting heals try again at their next heal or tick',
        ),
      );
    await this.slotFreed();
  }

  private async drain(ruleId: string): Promise<void> {
    const rule = this.rules.get(ruleId);
    if (!this.queue.waiting(ruleId) || !rule?.heal) return;
    const limit = hostLimit(rule.heal.maxConcurrent, this.deps.hostsSelected(rule));
    while (this.queue.waiting(ruleId) && this.activeHosts(ruleId) < limit) {
      const host = this.queue.next(ruleId)!;
      await this.request(rule, { host, trigger: 'schedule' });
      // Deferred by a slot held elsewhere (another controller, or another rule under the fleet limit): it waits for one to free.
      if (this.queue.first(ruleId) === host) break;
    }
  }

  private gauges(): void {
    this.deps.metrics.approvalsPending.set(this.orders.list().filter((o) => o.state === 'awaiting-approval').length);
  }
}
