import type { Logger } from '../../protocol/index.js';
import type { Clock } from '../clock.js';
import type { Metrics } from '../metrics.js';
import type { HealRecord, PauseState } from '../model.js';
import type { Store } from '../store/store.js';
import { Breakers, type BreakerConfig, type BreakerView } from './breaker.js';

const DEFAULT_BREAKER: BreakerConfig = { failures: 3, window: 3_600_000, resetAfter: 1_800_000 };

export interface BrakeStateDeps {
  store: Store;
  metrics: Metrics;
  log: Logger;
  clock: Clock;
  /** The rule's breaker settings, or undefined for the defaults. */
  breakerOf: (rule: string) => BreakerConfig | undefined;
}

/**
 * What the brakes remember across heals and restarts, and what operators switch by hand: the
 * fleet-wide pause and the circuit breakers, both kept in the store and shown as gauges.
 */
export class BrakeState {
  private pauseState: PauseState | null = null;
  private breakerSet = new Breakers();

  constructor(private readonly deps: BrakeStateDeps) {}

  async restore(): Promise<void> {
    await this.reloadPause();
    this.breakerSet = new Breakers((await this.deps.store.getState('breakers')) ?? []);
    this.gauges();
  }

  /** Several controllers: another controller changed the fleet-wide pause. */
  async reloadPause(): Promise<void> {
    this.pauseState = (await this.deps.store.getState('pause')) ?? null;
    this.gauges();
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

  breakers(): Breakers {
    return this.breakerSet;
  }

  breakerList(): BreakerView[] {
    return this.breakerSet.view((rule) => this.breakerConfig(rule).resetAfter);
  }

  async resetBreaker(rule: string, host: string, by: string): Promise<boolean> {
    const done = this.breakerSet.reset(rule, host);
    if (done) {
      this.deps.log.warn({ rule, host, by }, 'circuit breaker reset by an operator');
      await this.saveBreakers();
    }
    return done;
  }

  /** The fault cleared now: an open breaker's healthy time counts from this moment. */
  noteUnhealthy(rule: string, host: string): void {
    this.breakerSet.noteUnhealthy(rule, host, this.deps.clock.now());
  }

  /** Counts a failed heal; returns the breaker's settings when this failure opened it. */
  async recordFailure(order: HealRecord): Promise<BreakerConfig | undefined> {
    const cfg = this.breakerConfig(order.rule);
    const opened = this.breakerSet.recordFailure(order.rule, order.host, this.deps.clock.now(), cfg);
    await this.saveBreakers();
    return opened ? cfg : undefined;
  }

  async saveBreakers(): Promise<void> {
    await this.deps.store.putState('breakers', this.breakerSet.toJSON());
    this.gauges();
  }

  private breakerConfig(rule: string): BreakerConfig {
    return this.deps.breakerOf(rule) ?? DEFAULT_BREAKER;
  }

  private gauges(): void {
    this.deps.metrics.healPaused.set(this.pauseState ? 1 : 0);
    this.deps.metrics.breakersOpen.set(this.breakerSet.openCount());
  }
}
