import type { WindowPoints } from './functions.js';

/** A series keeps at most this many points; past it the oldest go (24 h at 10 s is 8,640; 1 h at 1 s is 3,600). */
export const MAX_POINTS = 10_000;
const FIRST_CAPACITY = 8;

export interface SeriesState {
  since: number;
  seenAt: number;
  valueAt: number;
  hasValues: boolean;
  base: number;
  /** Offsets from `base` (ms), increasing, and the values: one each per point. */
  t: Uint32Array;
  v: Float64Array;
}

/** Offsets are whole ms in a Uint32Array: at most 49 days from the base, far beyond any window. */
const MAX_OFFSET = 2 ** 32 - 1;

/**
 * One series' recent points: times as ms offsets from `base` in a Uint32Array and values in a
 * Float64Array (12 bytes a point), used as a sliding buffer: points live in [start, end);
 * pruning moves start, and a push at a full end first slides the live points back to 0 or
 * doubles the arrays. So a window is a zero-copy subarray, which matters: every sample of every
 * host reads its windows. Times only increase (to the ms): a point older than the newest is
 * ignored, and a second point at the same time (two rules reading one path in one sample) is the
 * same point.
 */
export class Series {
  private t = new Uint32Array(FIRST_CAPACITY);
  private v = new Float64Array(FIRST_CAPACITY);
  private start = 0;
  private end = 0;
  private base = 0;
  /** When this series was first watched, or watched again after a gap longer than its window. */
  since: number;
  /** The last evaluation that looked at it (a value present or not). */
  seenAt: number;
  /** The last time a value came (or when watching began): a wildcard key silent long enough is forgotten. */
  valueAt: number;
  /** A value came since watching began: without one, a window has no data rather than too little. */
  hasValues = false;

  constructor(at: number) {
    this.since = at;
    this.seenAt = at;
    this.valueAt = at;
  }

  get length(): number {
    return this.end - this.start;
  }

  get bytes(): number {
    return this.t.byteLength + this.v.byteLength;
  }

  /**
   * Adds a point. With a `step`, the newest point replaces the last one while it is within
   * `step` of the one before: points stay about a step apart and the last is always the newest.
   * With `runs`, a value equal to the last two moves the last one's time instead: a run of equal
   * values is its first and its latest point.
   */
  push(at: number, v: number, step = 0, runs = false): void {
    if (this.end === this.start) {
      this.start = this.end = 0;
      this.base = Math.floor(at);
    } else if (Math.floor(at) - this.base <= this.t[this.end - 1]) return;
    if (Math.floor(at) - this.base > MAX_OFFSET) this.rebase(Math.floor(at));
    const t = Math.floor(at) - this.base;
    this.valueAt = at;
    this.hasValues = true;
    const same = (a: number, b: number) => a === b || (Number.isNaN(a) && Number.isNaN(b));
    if (runs && this.end - this.start >= 2 && same(v, this.v[this.end - 1]) && same(v, this.v[this.end - 2])) {
      this.t[this.end - 1] = t;
      return;
    }
    if (step > 0 && this.end - this.start >= 2 && t - this.t[this.end - 2] < step) {
      this.t[this.end - 1] = t;
      this.v[this.end - 1] = v;
      return;
    }
    if (this.end === this.t.length) this.makeRoom();
    this.t[this.end] = t;
    this.v[this.end] = v;
    this.end++;
    // full: the oldest goes
    if (this.end - this.start > MAX_POINTS) this.start++;
  }

  /** Drops points at or before `cutoff`. */
  prune(cutoff: number): void {
    const c = cutoff - this.base;
    while (this.start < this.end && this.t[this.start] <= c) this.start++;
    if (this.start === this.end) this.start = this.end = 0;
  }

  /** The points after `from` (exclusive), oldest first: views into the series, valid until the next push. */
  window(from: number): WindowPoints {
    // binary search: the first point after `from`
    const f = from - this.base;
    let lo = this.start;
    let hi = this.end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.t[mid] <= f) lo = mid + 1;
      else hi = mid;
    }
    return { base: this.base, t: this.t.subarray(lo, this.end), v: this.v.subarray(lo, this.end), length: this.end - lo };
  }

  /** Everything that makes the series, for a snapshot (snapshot.ts): the live points as views, valid until the next push. */
  state(): SeriesState {
    return {
      since: this.since,
      seenAt: this.seenAt,
      valueAt: this.valueAt,
      hasValues: this.hasValues,
      base: this.base,
      t: this.t.subarray(this.start, this.end),
      v: this.v.subarray(this.start, this.end),
    };
  }

  /** A series as state() described it (the arrays are copied: a snapshot's buffer can go). */
  static fromState(s: SeriesState): Series {
    const out = new Series(s.since);
    out.seenAt = s.seenAt;
    out.valueAt = s.valueAt;
    out.hasValues = s.hasValues;
    const n = Math.min(s.t.length, MAX_POINTS);
    const cap = Math.max(FIRST_CAPACITY, 2 ** Math.ceil(Math.log2(n || 1)));
    out.t = new Uint32Array(cap);
    out.v = new Float64Array(cap);
    out.t.set(s.t.subarray(s.t.length - n));
    out.v.set(s.v.subarray(s.v.length - n));
    out.base = s.base;
    out.end = n;
    return out;
  }

  private makeRoom(): void {
    const live = this.end - this.start;
    // Slide back while at most three quarters are live, otherwise grow (to twice MAX_POINTS at
    // most): a steady series slides once every quarter of its capacity, amortised O(1) a push,
    // and a window of 360 points lives in 512, not 1,024.
    if (live * 4 <= this.t.length * 3) {
      this.t.copyWithin(0, this.start, this.end);
      this.v.copyWithin(0, this.start, this.end);
    } else {
      const cap = Math.min(this.t.length * 2, 2 * MAX_POINTS);
      const t = new Uint32Array(cap);
      const v = new Float64Array(cap);
      t.set(this.t.subarray(this.start, this.end));
      v.set(this.v.subarray(this.start, this.end));
      this.t = t;
      this.v = v;
    }
    this.start = 0;
    this.end = live;
  }

  /**
   * Offsets from the first live point: only a series kept for weeks without emptying needs it.
   * Points more than 49 days older than `at` are beyond any window: they go.
   */
  private rebase(at: number): void {
    const shift = this.t[this.start];
    for (let i = this.start; i < this.end; i++) this.t[i] -= shift;
    this.base += shift;
    if (at - this.base > MAX_OFFSET) {
      this.start = this.end = 0;
      this.base = at;
    }
  }
}
