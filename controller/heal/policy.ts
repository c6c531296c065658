const HOUR = 3_600_000;

export type Verdict = { allowed: true } | { allowed: false; reason: string };

/**
 * `maxPerHour` per rule and host, over a sliding hour. Time is passed in, so tests need no
 * sleeping; history is seeded from recorded work orders after a restart.
 */
export class HourlyLimit {
  private readonly history = new Map<string, number[]>();

  check(key: string, limit: number, now: number): Verdict {
    if (limit <= 0) return { allowed: false, reason: 'maxPerHour is 0: this rule never heals automatically' };
    const recent = this.recent(key, now);
    if (recent.length < limit) return { allowed: true };
    const next = new Date(recent[recent.length - limit] + HOUR).toISOString();
    return {
      allowed: false,
      reason: `maxPerHour ${limit} reached for ${key.replace('\u0000', ' on ')} (${recent.length} in the last hour); next allowed after ${next}`,
    };
  }

  record(key: string, at: number): void {
    const list = this.history.get(key) ?? [];
    list.push(at);
    list.sort((a, b) => a - b);
    this.history.set(key, list);
  }

  private recent(key: string, now: number): number[] {
    const list = this.history.get(key);
    if (!list) return [];
    const kept = list.filter((t) => t > now - HOUR);
    if (kept.length) this.history.set(key, kept);
    else this.history.delete(key);
    return kept;
  }
}

export function limitKey(rule: string, host: string): string {
  return `${rule}\u0000${host}`;
}

/** Resolves a host limit ("20%" of the hosts in scope, or a count) to a count, at least 1. */
export function hostLimit(limit: number | string, hostsInScope: number): number {
  if (typeof limit === 'number') return limit;
  const pct = Number(limit.slice(0, -1));
  return Math.max(1, Math.floor((pct * hostsInScope) / 100));
}
