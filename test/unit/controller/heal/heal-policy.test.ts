import { describe, expect, it } from 'vitest';
import { HourlyLimit, limitKey } from '../../../../controller/heal/policy.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const MIN = 60_000;

describe('maxPerHour policy', () => {
  it('allows up to the limit within an hour, then refuses with a reason', () => {
    const p = new HourlyLimit();
    const key = limitKey('web/demo-down', 'web-1');
    for (let i = 0; i < 3; i++) {
      expect(p.check(key, 3, T0 + i * MIN)).toEqual({ allowed: true });
      p.record(key, T0 + i * MIN);
    }
    const v = p.check(key, 3, T0 + 10 * MIN);
    expect(v.allowed).toBe(false);
    expect(v.allowed === false && v.reason).toBe(
      'maxPerHour 3 reached for web/demo-down on web-1 (3 in the last hour); next allowed after 2026-01-01T01:00:00.000Z',
    );
  });

  it('slides: a heal older than an hour stops counting', () => {
    const p = new HourlyLimit();
    const key = limitKey('r', 'h');
    p.record(key, T0);
    p.record(key, T0 + 30 * MIN);
    expect(p.check(key, 2, T0 + 59 * MIN).allowed).toBe(false);
    expect(p.check(key, 2, T0 + 60 * MIN + 1).allowed).toBe(true);
    expect(p.check(key, 2, T0 + 91 * MIN).allowed).toBe(true);
  });

  it('counts each rule and host apart', () => {
    const p = new HourlyLimit();
    p.record(limitKey('r', 'a'), T0);
    expect(p.check(limitKey('r', 'a'), 1, T0 + 1).allowed).toBe(false);
    expect(p.check(limitKey('r', 'b'), 1, T0 + 1).allowed).toBe(true);
    expect(p.check(limitKey('q', 'a'), 1, T0 + 1).allowed).toBe(true);
  });

  it('maxPerHour 0 never heals automatically', () => {
    expect(new HourlyLimit().check('k', 0, T0).allowed).toBe(false);
  });
});
