/**
 * Window functions over one series' points in a window (oldest first), like Prometheus'
 * `*_over_time`, `rate`, `changes`, `predict_linear` and Zabbix's `avg`, `last`, `change`.
 * `undefined` is "not enough data": too few points for the function to mean anything. A rule
 * compares only a number (or, for `absent`, a boolean), so it never alerts on missing data.
 */
export const WINDOW_FNS = ['avg', 'min', 'max', 'sum', 'count', 'last', 'delta', 'rate', 'changes', 'absent', 'predict', 'quantile'] as const;
export type WindowFn = (typeof WINDOW_FNS)[number];

export interface WindowArgs {
  /** Evaluation time (epoch ms): `predict` projects from here. */
  at: number;
  /** `predict`: how far ahead (ms). */
  aheadMs?: number;
  /** `quantile`: 0..1. */
  q?: number;
}

/** Points in the window: times (ms after `base`, epoch ms; ascending) and values (NaN for a value that is not a number). */
export interface WindowPoints {
  readonly base?: number;
  readonly t: ArrayLike<number>;
  readonly v: ArrayLike<number>;
  readonly length: number;
}

/** Per-second increase, a drop counted as a counter reset (the new value is what was added since). */
function rate(p: WindowPoints): number | undefined {
  let first = -1;
  let last = -1;
  let increase = 0;
  for (let i = 0; i < p.length; i++) {
    const v = p.v[i];
    if (Number.isNaN(v)) continue;
    if (last >= 0) increase += v >= p.v[last] ? v - p.v[last] : v;
    else first = i;
    last = i;
  }
  if (first < 0 || last === first || p.t[last] <= p.t[first]) return undefined;
  return increase / ((p.t[last] - p.t[first]) / 1000);
}

/** Least-squares line through the points, read at `at + aheadMs` (times taken from `at` for precision). */
function predict(p: WindowPoints, now: number, aheadMs: number): number | undefined {
  const at = now - (p.base ?? 0);
  let n = 0;
  let st = 0;
  let sv = 0;
  for (let i = 0; i < p.length; i++) {
    if (Number.isNaN(p.v[i])) continue;
    n++;
    st += (p.t[i] - at) / 1000;
    sv += p.v[i];
  }
  if (n < 2) return undefined;
  const mt = st / n;
  const mv = sv / n;
  let cov = 0;
  let varT = 0;
  for (let i = 0; i < p.length; i++) {
    if (Number.isNaN(p.v[i])) continue;
    const dt = (p.t[i] - at) / 1000 - mt;
    cov += dt * (p.v[i] - mv);
    varT += dt * dt;
  }
  if (varT === 0) return undefined;
  return mv + (cov / varT) * (aheadMs / 1000 - mt);
}

/** Linear interpolation between closest ranks, as Prometheus' quantile_over_time. */
function quantile(p: WindowPoints, q: number): number | undefined {
  const s = Array.from(p.v).filter((x) => !Number.isNaN(x));
  if (s.length === 0) return undefined;
  s.sort((a, b) => a - b);
  const rank = q * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (rank - lo);
}

/** avg, min, max, sum, last and delta in one pass over the numbers. */
function aggregate(fn: 'avg' | 'min' | 'max' | 'sum' | 'last' | 'delta', p: WindowPoints): number | undefined {
  let n = 0;
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let first = Number.NaN;
  let last = Number.NaN;
  for (let i = 0; i < p.length; i++) {
    const v = p.v[i];
    if (Number.isNaN(v)) continue;
    if (n === 0) first = v;
    n++;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
    last = v;
  }
  if (n === 0 || (fn === 'delta' && n < 2)) return undefined;
  return { avg: sum / n, min, max, sum, last, delta: last - first }[fn];
}

/** The function's value on the window's points; `absent` is answered by the caller, which knows how long it watched. */
export function computeWindow(fn: Exclude<WindowFn, 'absent'>, points: WindowPoints, args: WindowArgs): number | undefined {
  if (fn === 'changes') {
    if (points.length === 0) return undefined;
    let changes = 0;
    for (let i = 1; i < points.length; i++) {
      const a = points.v[i - 1];
      const b = points.v[i];
      if (a !== b && !(Number.isNaN(a) && Number.isNaN(b))) changes++;
    }
    return changes;
  }
  // count: samples that carried the path, whatever their value (Zabbix's count).
  if (fn === 'count') return points.length;
  switch (fn) {
    case 'rate':
      return rate(points);
    case 'predict':
      return predict(points, args.at, args.aheadMs ?? 0);
    case 'quantile':
      return quantile(points, args.q ?? 0.5);
    default:
      return aggregate(fn, points);
  }
}
