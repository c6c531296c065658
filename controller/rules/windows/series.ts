import type { WindowPoints } from './functions.js';

/** A series keeps at most this many points; past it the oldest go (24 h at 10 s is 8,640; 1 h at 1 s is 3,600). */
export const MAX_POINTS = 10_000;
const FIRST_CAPACITY = 8;

/**
 * One series' recent points in a ring of two Float64Arrays (16 bytes a point), grown by doubling
 * up to MAX_POINTS. Times only increase: a point older than the newest is ignored, and a second
 * point at the same time (two rules reading one path in one sample) is the same point.
 */
export class Series {
  private t = new Float64Array(FIRST_CAPACITY);
  private v = new Float64Array(FIRST_CAPACITY);
  private head = 0;
  private size = 0;
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
    return this.size;
  }

  get bytes(): number {
    return this.t.byteLength + this.v.byteLength;
  }

  private at(i: number): number {
    return (this.head + i) % this.t.length;
  }

  newest(): number | undefined {
    return this.size === 0 ? undefined : this.t[this.at(this.size - 1)];
  }

  push(t: number, v: number): void {
    const newest = this.newest();
    if (newest !== undefined && t <= newest) return;
    this.valueAt = t;
    this.hasValues = true;
    if (this.size === this.t.length) {
      if (this.t.length < MAX_POINTS) this.grow();
      else {
        this.head = (this.head + 1) % this.t.length;
        this.size--;
      }
    }
    const i = this.at(this.size);
    this.t[i] = t;
    this.v[i] = v;
    this.size++;
  }

  /** Drops points at or before `cutoff`. */
  prune(cutoff: number): void {
    while (this.size > 0 && this.t[this.head] <= cutoff) {
      this.head = (this.head + 1) % this.t.length;
      this.size--;
    }
    if (this.size === 0) this.head = 0;
  }

  /** The points after `from` (exclusive), oldest first, as fresh arrays. */
  window(from: number): WindowPoints {
    let start = 0;
    while (start < this.size && this.t[this.at(start)] <= from) start++;
    const n = this.size - start;
    const t = new Float64Array(n);
    const v = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const i = this.at(start + k);
      t[k] = this.t[i];
      v[k] = this.v[i];
    }
    return { t, v, length: n };
  }

  private grow(): void {
    const cap = Math.min(this.t.length * 2, MAX_POINTS);
    const t = new Float64Array(cap);
    const v = new Float64Array(cap);
    for (let k = 0; k < this.size; k++) {
      const i = this.at(k);
      t[k] = this.t[i];
      v[k] = this.v[i];
    }
    this.t = t;
    this.v = v;
    this.head = 0;
  }
}
