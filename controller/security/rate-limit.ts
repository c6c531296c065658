/** Sources each map keeps at most. */
const MAX_SOURCES = 10_000;

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
    if (left <= 0) {
      this.blocked.delete(source);
      return 0;
    }
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
    // Bounded: a flood of distinct sources cannot grow either map without limit. Blocks that ran
    // out are dropped (a source blocked once that never returns would stay for good otherwise).
    if (this.failures.size > MAX_SOURCES) this.failures.clear();
    if (this.blocked.size > MAX_SOURCES) {
      for (const [s, until] of this.blocked) if (until <= now) this.blocked.delete(s);
      // Still over under a flood of live blocks: the oldest (first to run out) go early; those sources may try again.
      for (const s of this.blocked.keys()) {
        if (this.blocked.size <= MAX_SOURCES) break;
        this.blocked.delete(s);
      }
    }
  }
}
