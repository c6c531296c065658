import { HourlyLimit, limitKey, type Verdict } from './policy.js';

/**
 * When heals of each rule started on each host: what `maxPerHour` (a sliding hour) and
 * `cooldown` are judged on. Seeded from the recorded work orders after a restart.
 */
export class Starts {
  private readonly hourly = new HourlyLimit();
  private readonly latest = new Map<string, number>();

  record(rule: string, host: string, at: number): void {
    const key = limitKey(rule, host);
    this.hourly.record(key, at);
    this.latest.set(key, Math.max(this.latest.get(key) ?? 0, at));
  }

  /** When the last heal of the rule on the host started, if one did. */
  last(rule: string, host: string): number | undefined {
    return this.latest.get(limitKey(rule, host));
  }

  withinHour(rule: string, host: string, max: number, now: number): Verdict {
    return this.hourly.check(limitKey(rule, host), max, now);
  }
}
