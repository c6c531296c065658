import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeWindow, type WindowFn } from '../../../../../controller/rules/windows/functions.js';
import { Series, MAX_POINTS } from '../../../../../controller/rules/windows/series.js';

const pts = (...pairs: [number, number][]) => ({ t: pairs.map((p) => p[0]), v: pairs.map((p) => p[1]), length: pairs.length });
const at = 100_000;

describe('window functions', () => {
  it('aggregate the numbers of the window, skipping values that are not numbers', () => {
    const p = pts([0, 4], [10_000, Number.NaN], [20_000, 2], [30_000, 6]);
    expect(computeWindow('avg', p, { at })).toBe(4);
    expect(computeWindow('min', p, { at })).toBe(2);
    expect(computeWindow('max', p, { at })).toBe(6);
    expect(computeWindow('sum', p, { at })).toBe(12);
    expect(computeWindow('count', p, { at })).toBe(4);
    expect(computeWindow('last', p, { at })).toBe(6);
    expect(computeWindow('delta', p, { at })).toBe(2);
  });

  it('say "not enough data" (undefined) rather than a number when the window cannot tell', () => {
    const empty = pts();
    for (const fn of ['avg', 'min', 'max', 'sum', 'last', 'delta', 'rate', 'changes', 'predict', 'quantile'] as WindowFn[])
      expect(computeWindow(fn as Exclude<WindowFn, 'absent'>, empty, { at, aheadMs: 1000, q: 0.5 })).toBeUndefined();
    expect(computeWindow('count', empty, { at })).toBe(0);
    const one = pts([0, 5]);
    expect(computeWindow('delta', one, { at })).toBeUndefined();
    expect(computeWindow('rate', one, { at })).toBeUndefined();
    expect(computeWindow('predict', one, { at, aheadMs: 1000 })).toBeUndefined();
    expect(computeWindow('avg', pts([0, Number.NaN]), { at })).toBeUndefined();
  });

  it('rate counts a drop as a counter reset, per second over the points’ own span', () => {
    // 100 → 160 (+60), reset to 10 (+10), → 40 (+30): 100 over 30 s.
    expect(computeWindow('rate', pts([0, 100], [10_000, 160], [20_000, 10], [30_000, 40]), { at })).toBeCloseTo(100 / 30);
    // irregular sampling: the span is what counts
    expect(computeWindow('rate', pts([0, 0], [1000, 10], [61_000, 70]), { at })).toBeCloseTo(70 / 61);
  });

  it('changes counts value changes, booleans as 1/0', () => {
    expect(computeWindow('changes', pts([0, 1], [1, 1], [2, 0], [3, 1], [4, 1], [5, 0]), { at })).toBe(3);
    expect(computeWindow('changes', pts([0, 1]), { at })).toBe(0);
  });

  it('predict extends the least-squares line to now + ahead', () => {
    // free bytes falling 1 per second, exactly: at t = 100 s it is 0; ahead 50 s → -50
    const p = pts([70_000, 30], [80_000, 20], [90_000, 10]);
    expect(computeWindow('predict', p, { at, aheadMs: 50_000 })).toBeCloseTo(-50);
    expect(computeWindow('predict', pts([1, 5], [1, 7]), { at, aheadMs: 0 })).toBeUndefined();
  });

  it('quantile interpolates between ranks as Prometheus does', () => {
    const p = pts([0, 1], [1, 2], [2, 3], [3, 4]);
    expect(computeWindow('quantile', p, { at, q: 0.5 })).toBe(2.5);
    expect(computeWindow('quantile', p, { at, q: 0 })).toBe(1);
    expect(computeWindow('quantile', p, { at, q: 1 })).toBe(4);
    expect(computeWindow('quantile', p, { at, q: 0.9 })).toBeCloseTo(3.7);
  });

  it('predict agrees with a plain least-squares fit on absolute times (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3_600_000 }), fc.integer({ min: -1e6, max: 1e6 })), { minLength: 2, maxLength: 40 }),
        fc.integer({ min: 0, max: 14_400_000 }),
        (raw, ahead) => {
          const sorted = [...raw].sort((a, b) => a[0] - b[0]);
          const n = sorted.length;
          const xs = sorted.map((p) => p[0] / 1000);
          const ys = sorted.map((p) => p[1]);
          const mx = xs.reduce((a, b) => a + b, 0) / n;
          const my = ys.reduce((a, b) => a + b, 0) / n;
          const sxx = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
          const got = computeWindow('predict', pts(...sorted), { at: 3_600_000, aheadMs: ahead });
          if (sxx === 0) return got === undefined;
          const slope = xs.reduce((a, x, i) => a + (x - mx) * (ys[i] - my), 0) / sxx;
          const want = my + slope * ((3_600_000 + ahead) / 1000 - mx);
          return got !== undefined && Math.abs(got - want) <= 1e-6 * Math.max(1, Math.abs(want));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('series ring', () => {
  it('keeps what a plain list keeps, through growth, wrap-around and pruning (property)', () => {
    const op = fc.oneof(
      fc.record({ push: fc.integer({ min: 0, max: 50 }), v: fc.integer() }),
      fc.record({ prune: fc.integer({ min: 0, max: 400 }) }),
      fc.record({ window: fc.integer({ min: 0, max: 400 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const s = new Series(0);
        const list: [number, number][] = [];
        let t = 0;
        for (const o of ops) {
          if ('push' in o) {
            t += o.push;
            s.push(t, o.v);
            // equal times are one point (the first stays)
            if (list.length === 0 || list[list.length - 1][0] < t) list.push([t, o.v]);
          } else if ('prune' in o) {
            const cutoff = t - o.prune;
            s.prune(cutoff);
            while (list.length > 0 && list[0][0] <= cutoff) list.shift();
          } else {
            const from = t - o.window;
            const w = s.window(from);
            const want = list.filter((p) => p[0] > from);
            if (w.length !== want.length) return false;
            for (let i = 0; i < w.length; i++) if ((w.base ?? 0) + w.t[i] !== want[i][0] || w.v[i] !== want[i][1]) return false;
          }
          if (s.length !== list.length) return false;
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });

  it('thinned with a step, keeps points about a step apart and always the newest last', () => {
    const s = new Series(0);
    for (let t = 0; t <= 600_000; t += 10_000) s.push(t, t / 1000, 60_000);
    const w = s.window(-1);
    const times = Array.from(w.t, (t) => w.base! + t);
    expect(times.at(-1)).toBe(600_000);
    expect(w.v[w.length - 1]).toBe(600);
    expect(w.length).toBeLessThanOrEqual(13); // 600 s at one point a minute, and the newest
    for (let i = 2; i < times.length; i++) expect(times[i] - times[i - 2]).toBeGreaterThanOrEqual(60_000);
    // a straight line stays the same line: predict reads the same from 13 points as from 61
    expect(computeWindow('predict', w, { at: 600_000, aheadMs: 60_000 })).toBeCloseTo(660);
  });

  it('kept as runs, answers changes, min, max and last as the whole series does (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 30 }), fc.constantFrom(0, 1, 2, Number.NaN)), { maxLength: 200 }),
        fc.integer({ min: 1, max: 600 }),
        (steps, over) => {
          const all = new Series(0);
          const runs = new Series(0);
          let t = 0;
          for (const [dt, v] of steps) {
            t += dt;
            all.push(t, v);
            runs.push(t, v, 0, true);
          }
          const from = t - over;
          const [a, r] = [all.window(from), runs.window(from)];
          for (const fn of ['changes', 'min', 'max', 'last'] as const) {
            const x = computeWindow(fn, a, { at: t });
            const y = computeWindow(fn, r, { at: t });
            if (!(x === y || (Number.isNaN(x) && Number.isNaN(y)))) return false;
          }
          return (a.length === 0) === (r.length === 0) && r.length <= a.length; // absent alike
        },
      ),
      { numRuns: 500 },
    );
    const s = new Series(0);
    for (let t = 0; t < 3600; t += 10) s.push(t, 1, 0, true);
    expect(s.length).toBe(2);
  });

  it('keeps times exact across a rebase, weeks after its first point', () => {
    const day = 86_400_000;
    const s = new Series(0);
    s.push(1, 1);
    s.push(40 * day, 2);
    s.prune(1); // the base stays at 1, the live point is 40 days on
    s.push(55 * day, 3); // 55 days from the base: past a Uint32 offset, within one from the live point
    const w = s.window(0);
    expect(Array.from(w.t, (t) => w.base! + t)).toEqual([40 * day, 55 * day]);
    expect(Array.from(w.v)).toEqual([2, 3]);
    s.push(200 * day, 4); // 160 days after the oldest: what is older than any window goes
    const later = s.window(0);
    expect(Array.from(later.t, (t) => later.base! + t)).toEqual([200 * day]);
  });

  it('past MAX_POINTS drops the oldest, and allocates at most twice that (12 bytes a point)', () => {
    const s = new Series(0);
    for (let i = 1; i <= 3 * MAX_POINTS + 10; i++) s.push(i, i);
    expect(s.length).toBe(MAX_POINTS);
    const w = s.window(0);
    expect(w.base! + w.t[0]).toBe(2 * MAX_POINTS + 11);
    expect(s.window(0).v[MAX_POINTS - 1]).toBe(3 * MAX_POINTS + 10);
    expect(s.bytes).toBeLessThanOrEqual(2 * MAX_POINTS * 12);
  });
});
