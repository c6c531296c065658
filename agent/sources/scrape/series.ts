// Turns parsed samples into the `metric` fact of one source: series keys written as Prometheus
// writes them, filtered, de-duplicated and capped so a chatty exporter cannot flood the link.

/** Series with more labels than this are dropped (a label set that large is a bug, not a fact). */
export const MAX_LABELS = 64;
/** The fact schema's bound on a series key (protocol/facts.ts metricSourceFacts). */
export const MAX_KEY_CHARS = 2000;
/**
 * Distinct series remembered per scrape before the rest are dropped unseen: the cap keeps the
 * first series in key order, which needs every key at hand; this bounds the memory that takes.
 */
export const MAX_CANDIDATES = 20_000;

export interface SeriesLimits {
  /** Series kept per source (the synthetic ones not counted). */
  maxSeries: number;
  /** Bytes of series keys and values kept per source, as JSON counts them (about). */
  maxBytes: number;
  /** Metric names to keep (each matched against the whole name); absent keeps every name. */
  match?: readonly RegExp[];
}

/** Why series of one scrape were dropped, by reason; all zero in a clean scrape. */
export interface Drops {
  /** NaN or ±Inf: the fact schema takes finite numbers only. */
  nonFinite: number;
  /** The same series twice in one body: the first is kept. */
  duplicate: number;
  /** Over MAX_LABELS labels, a key over MAX_KEY_CHARS characters, a line too long to parse, or a NUL. */
  oversize: number;
  /** Past maxSeries or maxBytes. */
  cap: number;
}

/** Escapes a label value the way the exposition format writes it. */
function escapeValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/** `name{a="x",b="y"}` with labels sorted by name; no braces without labels. */
export function seriesKey(name: string, labels: readonly (readonly [string, string])[]): string {
  if (labels.length === 0) return name;
  const sorted = labels.length === 1 ? labels : [...labels].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return `${name}{${sorted.map(([k, v]) => `${k}="${escapeValue(v)}"`).join(',')}}`;
}

/** JSON's cost of one entry `"key":value,` — near enough: escapes inside keys are rare. */
const entryBytes = (key: string, value: number) => key.length + String(value).length + 4;

export class SeriesSet {
  readonly drops: Drops = { nonFinite: 0, duplicate: 0, oversize: 0, cap: 0 };
  private readonly seen = new Map<string, number>();
  /**
   * The maxSeries smallest finite keys so far, as a max-heap (largest at 0): the cap keeps a prefix
   * of the sorted keys no longer than maxSeries, so result() sorts these few, not every candidate
   * (sorting 20,000 keys at the end of a scrape stalled the agent's loop ~10–25 ms in one go).
   */
  private readonly first: string[] = [];
  private finite = 0;
  private kept: Record<string, number> | undefined;

  constructor(private readonly limits: SeriesLimits) {}

  /** Whether a metric name is one the source keeps. */
  wanted(name: string): boolean {
    const match = this.limits.match;
    return match === undefined || match.some((re) => re.test(name));
  }

  add(name: string, labels: readonly (readonly [string, string])[], value: number): void {
    if (!this.wanted(name)) return;
    if (labels.length > MAX_LABELS) {
      this.drops.oversize++;
      return;
    }
    const key = seriesKey(name, labels);
    if (key.length > MAX_KEY_CHARS || key.includes('\0')) {
      this.drops.oversize++;
      return;
    }
    if (this.seen.has(key)) {
      this.drops.duplicate++;
      return;
    }
    if (!Number.isFinite(value)) {
      // Remembered all the same, so a later duplicate of it counts as a duplicate.
      this.seen.set(key, value);
      this.drops.nonFinite++;
      return;
    }
    if (this.seen.size >= MAX_CANDIDATES) {
      this.drops.cap++;
      return;
    }
    this.seen.set(key, value);
    this.finite++;
    this.offer(key);
  }

  /** Keeps `key` among the maxSeries smallest seen. */
  private offer(key: string): void {
    const heap = this.first;
    const max = this.limits.maxSeries;
    if (heap.length < max) {
      let i = heap.push(key) - 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (heap[parent] >= key) break;
        heap[i] = heap[parent];
        i = parent;
      }
      heap[i] = key;
      return;
    }
    if (max <= 0 || key >= heap[0]) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= max) break;
      const child = left + 1 < max && heap[left + 1] > heap[left] ? left + 1 : left;
      if (heap[child] <= key) break;
      heap[i] = heap[child];
      i = child;
    }
    heap[i] = key;
  }

  /** Lines too long to parse (they may have been of any metric). */
  addOversize(count: number): void {
    this.drops.oversize += count;
  }

  /**
   * The kept series: the first in key order (so the same ones every scrape, whatever order the
   * exporter writes them in) up to maxSeries and maxBytes.
   */
  result(): Record<string, number> {
    if (this.kept !== undefined) return this.kept;
    const keys = [...this.first].sort();
    const out: Record<string, number> = {};
    let count = 0;
    let bytes = 0;
    for (const key of keys) {
      const value = this.seen.get(key)!;
      const cost = entryBytes(key, value);
      if (count >= this.limits.maxSeries || bytes + cost > this.limits.maxBytes) {
        break;
      }
      out[key] = value;
      count++;
      bytes += cost;
    }
    this.drops.cap += this.finite - count;
    this.kept = out;
    return out;
  }
}

export const totalDrops = (d: Drops) => d.nonFinite + d.duplicate + d.oversize + d.cap;

/** The drops in words, for the log line written when they change; undefined when none. */
export function describeDrops(d: Drops, limits: SeriesLimits): string | undefined {
  const parts = [
    d.cap > 0 && `${d.cap} over the cap (${limits.maxSeries} series, ${limits.maxBytes} bytes)`,
    d.nonFinite > 0 && `${d.nonFinite} NaN or infinite`,
    d.duplicate > 0 && `${d.duplicate} duplicate`,
    d.oversize > 0 && `${d.oversize} with too many labels or too long`,
  ].filter((p): p is string => typeof p === 'string');
  return parts.length === 0 ? undefined : `dropped ${parts.join(', ')}`;
}
