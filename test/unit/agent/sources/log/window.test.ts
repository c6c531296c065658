import { describe, expect, it } from 'vitest';
import { WindowCounter } from '../../../../../agent/sources/log/window.js';

describe('the sliding window of matches', () => {
  const MIN = 60_000;

  it('counts matches within the window and lets them go after it', () => {
    const w = new WindowCounter(5 * MIN);
    const t0 = 1_000_000 * MIN;
    w.add(t0);
    w.add(t0 + MIN, 2);
    expect(w.count(t0 + MIN)).toBe(3);
    expect(w.count(t0 + 4 * MIN)).toBe(3);
    // Kept for the window and at most one bucket (5 s of a 5 m window) more.
    expect(w.count(t0 + 5 * MIN + 5_000)).toBe(2);
    expect(w.count(t0 + 6 * MIN + 5_000)).toBe(0);
  });

  it('never counts a match for less than the window', () => {
    const w = new WindowCounter(MIN);
    for (let t = 0; t < 10 * MIN; t += 7919) {
      const c = new WindowCounter(MIN);
      c.add(t);
      expect(c.count(t + MIN - 1)).toBe(1);
      expect(c.count(t + MIN + MIN / 60)).toBe(0);
    }
    expect(w.count(0)).toBe(0);
  });

  it('keeps a fixed memory however many matches come, and a long silence empties it', () => {
    const w = new WindowCounter(5 * MIN);
    const t0 = 7 * MIN;
    for (let i = 0; i < 100_000; i++) w.add(t0 + i * 3);
    expect(w.count(t0 + 300_000)).toBe(100_000);
    expect(w.count(t0 + 30 * MIN)).toBe(0);
    w.add(t0 + 30 * MIN);
    expect(w.count(t0 + 30 * MIN)).toBe(1);
  });

  it('starts afresh when the clock is set back, rather than counting matches from the future', () => {
    const w = new WindowCounter(5 * MIN);
    w.add(100 * MIN, 5);
    expect(w.count(100 * MIN)).toBe(5);
    expect(w.count(50 * MIN)).toBe(0);
    w.add(50 * MIN);
    expect(w.count(51 * MIN)).toBe(1);
  });
});
