import type { Clock } from '../clock.js';
import type { HealRecord } from '../model.js';
import type { Store } from '../store/store.js';
import type { Approvals } from './approvals.js';
import type { Orders } from './orders.js';
import type { Runner } from './runner.js';
import type { Starts } from './starts.js';

const OPEN = ['dispatched', 'awaiting-approval'] as const;

/**
 * Work orders outlive the controller that opened them: after a restart they are read back from
 * the store, and in a cluster the controller that takes a host's link carries its orders on.
 */
export class Carry {
  constructor(private readonly d: { store: Store; clock: Clock; orders: Orders; runner: Runner; approvals: Approvals; starts: Starts }) {}

  /** After a restart: the last hour's heal starts (for the rate limits), then every open order this controller owns. */
  async restore(owns: (host: string) => boolean): Promise<void> {
    const { store, clock, starts } = this.d;
    const since = new Date(clock.now() - 3_600_000).toISOString();
    for (const h of await store.listHeals({ since })) {
      if (h.dispatchedAt && h.mode === 'enforce') starts.record(h.rule, h.host, Date.parse(h.dispatchedAt));
    }
    for (const state of OPEN) {
      for (const h of await store.listHeals({ state })) if (owns(h.host)) await this.take(h, 'the controller stopped');
    }
  }

  /**
   * Several controllers: this one now holds the host's link, so it carries the host's open work
   * orders on (timers armed again, a result that arrived meanwhile applied). Returns how many.
   */
  async adopt(host: string): Promise<number> {
    let n = 0;
    for (const state of OPEN) {
      for (const h of await this.d.store.listHeals({ state, host })) {
        if (this.d.orders.isOpen(h.id)) continue;
        this.d.orders.event(h, 'adopted', `carried on by this controller, which now holds the link to ${host}`);
        await this.take(h, 'its controller stopped');
        n++;
      }
    }
    return n;
  }

  /** Carries on an open order read from the store. */
  private async take(h: HealRecord, who: string): Promise<void> {
    this.d.orders.hold(h);
    if (h.state === 'awaiting-approval') this.d.approvals.armExpiry(h);
    else await this.d.runner.resume(h, who);
  }
}
