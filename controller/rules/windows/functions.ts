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

/** Points in the window: times (epoch ms, ascending) and values (NaN for a value that is not a number). */
export interface WindowPoints {
  readonly t: ArrayLike<number>;
  readonly v: ArrayLike<number>;
  readonly length: number;
}

function numeric(p: WindowPoints): { t: number[]; v: number[] } {
  const t: number[] = [];
  const v: number[] = [];
  for (let i = 0; i < p.length; i++) {
    if (Number.isNaN(p.v[i])) continue;
    t.push(p.t[i]);
    v.push(p.v[i]);
  }
  return { t, v };
}

/** Per-second increase, a drop counted as a counter reset (the new value is what was added since). */
function rate(t: number[], v: number[]): number | undefined {
  if (v.length < 2 || t[t.length - 1] <= t[0]) return undefined;
  let increase = 0;
  for (let i = 1; i < v.length; i++) increase += v[i] >= v[i - 1] ? v[i] - v[i - 1] : v[i];
  return increase / ((t[t.length - 1] - t[0]) / 1000);
}

/** Least-squares line through the points, read at `at + aheadMs` (times taken from `at` for precision). */
function predict(t: number[], v: number[], at: number, aheadMs: number): number | undefined {
  if (v.length < 2) return undefined;
  let st = 0;
  let sv = 0;
  for (let i = 0; i < v.length; i++) {
    st += (t[i] - at) / 1000;
    sv += v[i];
  }
  const mt = st / v.length;
  const mv = sv / v.length;
  let cov = 0;
  let varT = 0;
  for (let i = 0; i < v.length; i++) {
    const dt = (t[i] - at) / 1000 - mt;
    cov += dt * (v[i] - mv);
    varT += dt * dt;
  }
  if (varT === 0) return undefined;
  const slope = cov / varT;
  return mv + slope * (aheadMs / 1000 - mt);
}

/** Linear interpolation between closest ranks, as Prometheus' quantile_over_time. */
function quantile(v: number[], q: number): number | undefined {
  if (v.length === 0) return undefined;
  const s = [...v].sort((a, b) => a - b);
  const rank = q * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (rank - lo);
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
  const { t, v } = numeric(points);
  if (v.length === 0) return undefined;
  switch (fn) {
    case 'avg':
      return v.reduce((a, b) => a + b, 0) / v.length;
    case 'sum':
      return v.reduce((a, b) => a + b, 0);
    case 'min':
      return v.reduce((a, b) => (b < a ? b : a));
    case 'max':
      return v.reduce((a, b) => (b > a ? b : a));
    case 'last':
      return v[v.length - 1];
    case 'delta':
      return v.length < 2 ? undefined : v[v.length - 1] - v[0];
    case 'rate':
      return rate(t, v);
    case 'predict':
      return predict(t, v, args.at, args.aheadMs ?? 0);
    case 'quantile':
      return quantile(v, args.q ?? 0.5);
  }
}
