import { Series } from './series.js';

/**
 * How a series may be kept, from the functions that read it:
 * - `thin` (read only by avg, last, delta, predict, quantile): about THIN_POINTS points over its
 *   retention, the newest always exact;
 * - `runs` (read only by changes, absent, min, max, last): a run of equal values keeps its
 *   first and its latest point, which answers those exactly — a service up all hour is 2 points;
 * - `all`: every sample (count, sum, rate, or a mix).
 */
export type KeepMode = 'thin' | 'runs' | 'all';

/** What a series id needs kept: how long, and how (KeepMode). */
export interface Keep {
  ms: number;
  mode: KeepMode;
}

/** A thinned series keeps about this many points over its retention (6 h at 10 s would be 2,160). */
export const THIN_POINTS = 360;

/** A wildcard key that has sent nothing for this long is forgotten (its `absent` resolves then). */
const VANISHED_MS = 24 * 3600_000;
/** Whole-store sweeps (hosts gone, rules no longer needing a path) run at most this often. */
const SWEEP_EVERY_MS = 60_000;

/** A value as a window stores it: numbers as they are, booleans 1/0, anything else NaN (it counts for absent and changes). */
export function windowValue(value: unknown): number {
  if (typeof value === 'number') return Number.isFinite(value) ? value : Number.NaN;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return Number.NaN;
}

/**
 * The windows of every host: host → series id (fact and path as the rule writes it) → key (what
 * a wildcard took; '' without one) → Series. Only paths that windowed conditions reference are
 * kept, each as long as the longest window over it (its retention). Outlives rule reloads, so a
 * reload does not empty the windows of the rules it keeps.
 */
export class Windows {
  private readonly hosts = new Map<string, Map<string, Map<string, Series>>>();
  private retention = new Map<string, Keep>();
  private lastSweep = 0;

  /** The series ids the loaded rules read, with their longest window; others are dropped on the next sweep. */
  setRetention(retention: ReadonlyMap<string, Keep>): void {
    this.retention = new Map(retention);
  }

  /**
   * One evaluation's look at a path: records the values present at `at` and returns every series
   * of the group (keys seen now and keys seen before), to be judged. A series looked at after a
   * gap longer than its retention (the host was silent, the controller stopped, the clock
   * jumped) starts watching again: what happened in the gap is unknown, not absent.
   */
  observe(host: string, seriesId: string, at: number, present: readonly { key: string; value: unknown }[]): Map<string, Series> {
    const keep = this.retention.get(seriesId);
    const retention = keep?.ms ?? 0;
    const step = keep?.mode === 'thin' ? retention / THIN_POINTS : 0;
    const runs = keep?.mode === 'runs';
    let groups = this.hosts.get(host);
    if (!groups) this.hosts.set(host, (groups = new Map<string, Map<string, Series>>()));
    let group = groups.get(seriesId);
    if (!group) groups.set(seriesId, (group = new Map<string, Series>()));
    for (const s of group.values()) {
      if (at - s.seenAt <= retention) continue;
      s.prune(Number.POSITIVE_INFINITY);
      s.since = at;
      s.hasValues = false;
    }
    const now = new Set<string>();
    for (const { key, value } of present) {
      now.add(key);
      let s = group.get(key);
      if (!s) group.set(key, (s = new Series(at)));
      if (value !== undefined) s.push(at, windowValue(value), step, runs);
    }
    for (const [key, s] of group) {
      if (at > s.seenAt) s.seenAt = at;
      s.prune(at - retention);
      if (!now.has(key) && at - s.valueAt > VANISHED_MS) group.delete(key);
    }
    return group;
  }

  /**
   * Drops hosts not evaluated within their retention and paths no rule reads any more. At most
   * once a minute; returns the stats then (undefined between sweeps).
   */
  sweep(now: number): { series: number; points: number; bytes: number } | undefined {
    if (now - this.lastSweep < SWEEP_EVERY_MS) return undefined;
    this.lastSweep = now;
    for (const [host, groups] of this.hosts) {
      for (const [id, group] of groups) {
        const keep = this.retention.get(id);
        if (keep === undefined) {
          groups.delete(id);
          continue;
        }
        for (const [key, s] of group) if (now - s.seenAt > keep.ms + SWEEP_EVERY_MS) group.delete(key);
        if (group.size === 0) groups.delete(id);
      }
      if (groups.size === 0) this.hosts.delete(host);
    }
    return this.stats();
  }

  /** The series ids the loaded rules read, and what each must keep. */
  get retained(): ReadonlyMap<string, Keep> {
    return this.retention;
  }

  /** Every series, for a snapshot. */
  *entries(): Generator<[host: string, seriesId: string, key: string, series: Series]> {
    for (const [host, groups] of this.hosts) for (const [id, group] of groups) for (const [key, s] of group) yield [host, id, key, s];
  }

  /**
   * Puts in a series from before this process (a snapshot, Prometheus' history) unless the rules
   * read no such path or the key already has one: what this process saw itself wins.
   */
  adopt(host: string, seriesId: string, key: string, series: Series): boolean {
    if (!this.retention.has(seriesId)) return false;
    let groups = this.hosts.get(host);
    if (!groups) this.hosts.set(host, (groups = new Map<string, Map<string, Series>>()));
    let group = groups.get(seriesId);
    if (!group) groups.set(seriesId, (group = new Map<string, Series>()));
    if (group.has(key)) return false;
    group.set(key, series);
    return true;
  }

  /** Points pushed as observe() would keep them (thinned or as runs, per the path's Keep), oldest first. */
  seeded(seriesId: string, since: number, points: readonly [at: number, value: number][]): Series {
    const keep = this.retention.get(seriesId);
    const s = new Series(since);
    const step = keep?.mode === 'thin' ? keep.ms / THIN_POINTS : 0;
    for (const [at, v] of points) s.push(at, v, step, keep?.mode === 'runs');
    if (points.length) s.seenAt = points[points.length - 1][0];
    return s;
  }

  stats(): { series: number; points: number; bytes: number } {
    let series = 0;
    let points = 0;
    let bytes = 0;
    for (const groups of this.hosts.values())
      for (const group of groups.values())
        for (const s of group.values()) {
          series++;
          points += s.length;
          bytes += s.bytes;
        }
    return { series, points, bytes };
  }
}
