/**
 * Failed authentication per source address: after `max` failures within `windowMs` the
 * source is refused (HTTP 429) for `blockMs`, whatever it sends — a brake on token guessing.
 */
export class AuthFailures {
  private readonly failures = new Map<string, number[]>();
  private readonly blocked = new Map<string, number>();

  constructor(private readonly opts: { max: number; windowMs: number; blockMs: number; now?: () => number } = { max: 10, windowMs: 60_000, blockMs: 60_000 }) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** Seconds left on a block, or 0 when the source may try. */
  retryAfter(source: string): number {
    const until = this.blocked.get(source);
    if (until === undefined) return 0;
    const left = until - this.now();
    if (left <= 0) { this.blocked.delete(source); return 0; }
    return Math.ceil(left / 1000);
  }

  fail(source: string): void {
    const now = this.now();
    const list = (this.failures.get(source) ?? []).filter((t) => t > now - this.opts.windowMs);
    list.push(now);
    this.failures.set(source, list);
    if (list.length >= this.opts.max) {
      this.blocked.set(source, now + this.opts.blockMs);
      this.failures.delete(source);
    }
    // Bounded: a flood of distinct sources cannot grow this without limit.
    if (this.failures.size > 10_000) this.failures.clear();
  }
}
