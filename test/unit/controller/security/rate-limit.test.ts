import { describe, expect, it } from 'vitest';
import { AuthFailures } from '../../../../controller/security/rate-limit.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const S = 1000;

/** A limiter on a clock the test moves: 3 failures within 10 s block the source for 30 s. */
function limiter() {
  const t = { now: T0 };
  const f = new AuthFailures({ max: 3, windowMs: 10 * S, blockMs: 30 * S, now: () => t.now });
  return { f, t };
}

describe('failed authentication per source', () => {
  it('lets a source try until max failures within the window, then blocks it for blockMs', () => {
    const { f, t } = limiter();
    f.fail('10.0.0.1');
    t.now += S;
    f.fail('10.0.0.1');
    expect(f.retryAfter('10.0.0.1')).toBe(0);
    t.now += S;
    f.fail('10.0.0.1');
    expect(f.retryAfter('10.0.0.1')).toBe(30);
    t.now += 29 * S;
    expect(f.retryAfter('10.0.0.1')).toBe(1);
    t.now += S;
    expect(f.retryAfter('10.0.0.1')).toBe(0);
  });

  it('rounds the seconds to wait up, so a client told to retry after them is not refused again', () => {
    const { f, t } = limiter();
    for (let i = 0; i < 3; i++) f.fail('a');
    t.now += 500;
    expect(f.retryAfter('a')).toBe(30);
    t.now += 29 * S;
    expect(f.retryAfter('a')).toBe(1);
    t.now += 499;
    expect(f.retryAfter('a')).toBe(1);
  });

  it('counts only failures within the window: a slow trickle of mistakes is never blocked', () => {
    const { f, t } = limiter();
    for (let i = 0; i < 20; i++) {
      f.fail('slow');
      expect(f.retryAfter('slow')).toBe(0);
      t.now += 5 * S;
    }
  });

  it('the window slides: the oldest failure drops out exactly windowMs after it', () => {
    const { f, t } = limiter();
    f.fail('a');
    t.now += 5 * S;
    f.fail('a');
    t.now += 5 * S; // the first is now exactly 10 s old: no longer counted
    f.fail('a');
    expect(f.retryAfter('a')).toBe(0);
    t.now += 1;
    f.fail('a');
    expect(f.retryAfter('a')).toBe(30);
  });

  it('blocks each source on its own: others keep their chances', () => {
    const { f } = limiter();
    for (let i = 0; i < 3; i++) {
      f.fail('attacker');
      if (i < 2) f.fail('neighbour');
    }
    expect(f.retryAfter('attacker')).toBe(30);
    expect(f.retryAfter('neighbour')).toBe(0);
    expect(f.retryAfter('never-failed')).toBe(0);
    f.fail('neighbour');
    expect(f.retryAfter('neighbour')).toBe(30);
  });

  it('starts a source afresh when its block ends: one more mistake does not block it again', () => {
    // A block shorter than the window: the failures that led to it must not count again.
    const t = { now: T0 };
    const f = new AuthFailures({ max: 3, windowMs: 60 * S, blockMs: 30 * S, now: () => t.now });
    for (let i = 0; i < 3; i++) f.fail('a');
    t.now += 30 * S;
    expect(f.retryAfter('a')).toBe(0);
    f.fail('a');
    f.fail('a');
    expect(f.retryAfter('a')).toBe(0);
    f.fail('a');
    expect(f.retryAfter('a')).toBe(30);
  });

  it('by default allows ten failures a minute and blocks for a minute', () => {
    const f = new AuthFailures();
    for (let i = 0; i < 9; i++) f.fail('x');
    expect(f.retryAfter('x')).toBe(0);
    f.fail('x');
    const wait = f.retryAfter('x');
    // Real clock here: allow for the second that may tick over during the test.
    expect(wait).toBeGreaterThanOrEqual(59);
    expect(wait).toBeLessThanOrEqual(60);
  });

  it('stays bounded under a flood of distinct sources, and still blocks one that keeps guessing', () => {
    const { f } = limiter();
    for (let i = 0; i < 10_001; i++) f.fail(`198.51.${i >> 8}.${i & 255}`);
    const failures = (f as unknown as { failures: Map<string, number[]> }).failures;
    expect(failures.size).toBeLessThanOrEqual(10_000);
    for (let i = 0; i < 3; i++) f.fail('guesser');
    expect(f.retryAfter('guesser')).toBe(30);
  });

  it('forgets blocks that ran out, even of sources that never come back', () => {
    const { f, t } = limiter();
    // Many addresses (an IPv6 prefix holds plenty), each blocked once and never seen again.
    for (let i = 0; i < 20_000; i++) for (let k = 0; k < 3; k++) f.fail(`2001:db8::${i.toString(16)}`);
    t.now += 31 * S;
    f.fail('someone-else');
    const blocked = (f as unknown as { blocked: Map<string, number> }).blocked;
    expect(blocked.size).toBeLessThanOrEqual(10_000);
  });

  it('stays bounded under a flood of blocks that are all still running, keeping the newest', () => {
    const { f } = limiter();
    for (let i = 0; i < 20_000; i++) for (let k = 0; k < 3; k++) f.fail(`2001:db8::${i.toString(16)}`);
    const blocked = (f as unknown as { blocked: Map<string, number> }).blocked;
    expect(blocked.size).toBeLessThanOrEqual(10_000);
    expect(f.retryAfter(`2001:db8::${(19_999).toString(16)}`)).toBe(30);
  });
});
