import type { BreakerState } from '../model.js';

export type { BreakerState } from '../model.js';

export interface BreakerConfig {
  failures: number;
  window: number;
  resetAfter: number;
}

export interface BreakerView {
  rule: string;
  host: string;
  state: 'open' | 'closed';
  openedAt: string | null;
  recentFailures: number;
  closesAt: string | null;
}

/**
 * Circuit breakers: N failed work orders for a rule on a host within a window open it, and no
 * automatic heal runs there until the problem has stayed away for `resetAfter`, or an operator
 * resets it. Plain data plus functions, so the store can keep it across restarts.
 */
export class Breakers {
  private readonly states = new Map<string, BreakerState>();

  constructor(saved: readonly BreakerState[] = []) {
    for (const s of saved) this.states.set(key(s.rule, s.host), { ...s, failures: [...s.failures] });
  }

  /** Counts a failure; returns true when this failure opened the breaker. */
  recordFailure(rule: string, host: string, at: number, cfg: BreakerConfig): boolean {
    const s = this.get(rule, host);
    s.failures = [...s.failures.filter((t) => t > at - cfg.window), at];
    if (s.openedAt === null && s.failures.length >= cfg.failures) {
      s.openedAt = at;
      s.lastUnhealthyAt = at;
      return true;
    }
    return false;
  }

  /** The fault was seen (or cleared just now): the healthy period starts again from `at`. */
  noteUnhealthy(rule: string, host: string, at: number): void {
    const s = this.states.get(key(rule, host));
    if (s?.openedAt !== null && s !== undefined) s.lastUnhealthyAt = Math.max(s.lastUnhealthyAt ?? 0, at);
  }

  /**
   * Whether the breaker is open now. One that has been healthy for `resetAfter` closes here
   * (returns 'closed-now' so the caller can record it).
   */
  check(rule: string, host: string, now: number, cfg: BreakerConfig, firing: boolean): 'open' | 'closed' | 'closed-now' {
    const s = this.states.get(key(rule, host));
    if (!s || s.openedAt === null) return 'closed';
    if (!firing && now - (s.lastUnhealthyAt ?? s.openedAt) >= cfg.resetAfter) {
      this.reset(rule, host);
      return 'closed-now';
    }
    return 'open';
  }

  reset(rule: string, host: string): boolean {
    const s = this.states.get(key(rule, host));
    if (!s || s.openedAt === null) return false;
    s.openedAt = null;
    s.lastUnhealthyAt = null;
    s.failures = [];
    return true;
  }

  openedAt(rule: string, host: string): number | null {
    return this.states.get(key(rule, host))?.openedAt ?? null;
  }

  view(resetAfter: (rule: string) => number): BreakerView[] {
    return [...this.states.values()]
      .filter((s) => s.openedAt !== null || s.failures.length > 0)
      .map((s) => ({
        rule: s.rule,
        host: s.host,
        state: s.openedAt === null ? 'closed' : 'open',
        openedAt: s.openedAt === null ? null : new Date(s.openedAt).toISOString(),
        recentFailures: s.failures.length,
        closesAt: s.openedAt === null ? null : new Date((s.lastUnhealthyAt ?? s.openedAt) + resetAfter(s.rule)).toISOString(),
      }));
  }

  openCount(): number {
    let n = 0;
    for (const s of this.states.values()) if (s.openedAt !== null) n++;
    return n;
  }

  toJSON(): BreakerState[] {
    return [...this.states.values()].filter((s) => s.openedAt !== null || s.failures.length > 0);
  }

  private get(rule: string, host: string): BreakerState {
    const k = key(rule, host);
    let s = this.states.get(k);
    if (!s) {
      s = { rule, host, failures: [], openedAt: null, lastUnhealthyAt: null };
      this.states.set(k, s);
    }
    return s;
  }
}

function key(rule: string, host: string): string {
  return `${rule}\u0000${host}`;
}
