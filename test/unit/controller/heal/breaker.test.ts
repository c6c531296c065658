import { describe, expect, it } from 'vitest';
import { Breakers, type BreakerConfig } from '../../../../controller/heal/breaker.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const MIN = 60_000;
const cfg: BreakerConfig = { failures: 3, window: 60 * MIN, resetAfter: 30 * MIN };
const R = 'web/svc-down';

/** A breaker opened by three failures at T0, T0+1m, T0+2m. */
function opened(): Breakers {
  const b = new Breakers();
  b.recordFailure(R, 'h1', T0, cfg);
  b.recordFailure(R, 'h1', T0 + MIN, cfg);
  b.recordFailure(R, 'h1', T0 + 2 * MIN, cfg);
  return b;
}

describe('circuit breakers', () => {
  it('open at the Nth failed work order within the window, and say so only once', () => {
    const b = new Breakers();
    expect(b.recordFailure(R, 'h1', T0, cfg)).toBe(false);
    expect(b.recordFailure(R, 'h1', T0 + MIN, cfg)).toBe(false);
    expect(b.check(R, 'h1', T0 + MIN, cfg, true)).toBe('closed');
    expect(b.recordFailure(R, 'h1', T0 + 2 * MIN, cfg)).toBe(true);
    expect(b.check(R, 'h1', T0 + 2 * MIN, cfg, true)).toBe('open');
    expect(b.openedAt(R, 'h1')).toBe(T0 + 2 * MIN);
    // Already open: a later failure does not open it again (no second notice).
    expect(b.recordFailure(R, 'h1', T0 + 3 * MIN, cfg)).toBe(false);
    expect(b.openedAt(R, 'h1')).toBe(T0 + 2 * MIN);
  });

  it('forget failures older than the window', () => {
    const b = new Breakers();
    b.recordFailure(R, 'h1', T0, cfg);
    b.recordFailure(R, 'h1', T0 + 30 * MIN, cfg);
    // The first failure is exactly one window old: it no longer counts.
    expect(b.recordFailure(R, 'h1', T0 + 60 * MIN, cfg)).toBe(false);
    expect(b.check(R, 'h1', T0 + 60 * MIN, cfg, true)).toBe('closed');
    expect(b.recordFailure(R, 'h1', T0 + 61 * MIN, cfg)).toBe(true);
  });

  it('count each rule on each host apart', () => {
    const b = opened();
    b.recordFailure('web/other', 'h1', T0, cfg);
    b.recordFailure(R, 'h2', T0, cfg);
    expect(b.check(R, 'h1', T0 + 3 * MIN, cfg, true)).toBe('open');
    expect(b.check(R, 'h2', T0 + 3 * MIN, cfg, true)).toBe('closed');
    expect(b.check('web/other', 'h1', T0 + 3 * MIN, cfg, true)).toBe('closed');
    expect(b.check('web/never', 'h9', T0, cfg, false)).toBe('closed');
    expect(b.openCount()).toBe(1);
  });

  it('stay open while the fault fires, however long', () => {
    const b = opened();
    expect(b.check(R, 'h1', T0 + 2 * MIN + 24 * 60 * MIN, cfg, true)).toBe('open');
  });

  it('close once the fault has stayed away for resetAfter, reporting it once', () => {
    const b = opened();
    const closes = T0 + 2 * MIN + cfg.resetAfter;
    expect(b.check(R, 'h1', closes - 1, cfg, false)).toBe('open');
    expect(b.check(R, 'h1', closes, cfg, false)).toBe('closed-now');
    expect(b.check(R, 'h1', closes + 1, cfg, false)).toBe('closed');
    expect(b.openedAt(R, 'h1')).toBeNull();
    expect(b.openCount()).toBe(0);
    // Closed means a clean slate: one new failure does not reopen it.
    expect(b.recordFailure(R, 'h1', closes + MIN, cfg)).toBe(false);
    expect(b.check(R, 'h1', closes + MIN, cfg, true)).toBe('closed');
  });

  it('start the healthy period again when the fault is seen while open', () => {
    const b = opened();
    b.noteUnhealthy(R, 'h1', T0 + 20 * MIN);
    expect(b.check(R, 'h1', T0 + 2 * MIN + cfg.resetAfter, cfg, false)).toBe('open');
    expect(b.check(R, 'h1', T0 + 20 * MIN + cfg.resetAfter - 1, cfg, false)).toBe('open');
    expect(b.check(R, 'h1', T0 + 20 * MIN + cfg.resetAfter, cfg, false)).toBe('closed-now');
  });

  it('never move the healthy period back for an older sighting, and ignore sightings while closed', () => {
    const b = opened();
    b.noteUnhealthy(R, 'h1', T0 + 20 * MIN);
    b.noteUnhealthy(R, 'h1', T0 + 5 * MIN);
    expect(b.check(R, 'h1', T0 + 5 * MIN + cfg.resetAfter, cfg, false)).toBe('open');
    const c = new Breakers();
    c.noteUnhealthy(R, 'h1', T0);
    expect(c.toJSON()).toEqual([]);
  });

  it('close at an operator reset, which says whether there was anything to reset', () => {
    const b = opened();
    expect(b.reset(R, 'h1')).toBe(true);
    expect(b.check(R, 'h1', T0 + 3 * MIN, cfg, true)).toBe('closed');
    expect(b.reset(R, 'h1')).toBe(false);
    expect(b.reset(R, 'nowhere')).toBe(false);
    // The failures that opened it are forgotten too.
    expect(b.recordFailure(R, 'h1', T0 + 4 * MIN, cfg)).toBe(false);
  });

  it('survive a restart through toJSON, and keep their own copy of what they were given', () => {
    const saved = opened().toJSON();
    expect(saved).toEqual([{ rule: R, host: 'h1', failures: [T0, T0 + MIN, T0 + 2 * MIN], openedAt: T0 + 2 * MIN, lastUnhealthyAt: T0 + 2 * MIN }]);
    const b = new Breakers(saved);
    expect(b.check(R, 'h1', T0 + 3 * MIN, cfg, true)).toBe('open');
    b.recordFailure(R, 'h1', T0 + 4 * MIN, cfg);
    b.reset(R, 'h1');
    expect(saved[0].failures).toHaveLength(3);
    expect(saved[0].openedAt).toBe(T0 + 2 * MIN);
  });

  it('keep only breakers with something to say (open, or recent failures)', () => {
    const b = opened();
    b.recordFailure(R, 'h2', T0, cfg);
    b.reset(R, 'h1');
    expect(b.toJSON().map((s) => s.host)).toEqual(['h2']);
  });

  it('show operators when each open breaker closes if the fault stays away', () => {
    const b = opened();
    b.recordFailure(R, 'h2', T0 + 5 * MIN, cfg);
    b.noteUnhealthy(R, 'h1', T0 + 10 * MIN);
    const view = b.view(() => cfg.resetAfter);
    expect(view).toEqual([
      {
        rule: R,
        host: 'h1',
        state: 'open',
        openedAt: new Date(T0 + 2 * MIN).toISOString(),
        recentFailures: 3,
        closesAt: new Date(T0 + 10 * MIN + cfg.resetAfter).toISOString(),
      },
      { rule: R, host: 'h2', state: 'closed', openedAt: null, recentFailures: 1, closesAt: null },
    ]);
  });
});
