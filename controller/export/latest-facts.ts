import type { Sample } from '../../protocol/index.js';
import { FACT_SECTIONS } from '../fact-series.js';
import type { TimeSeries } from './write-request.js';

type Facts = Omit<Sample, 'seq' | 'ts' | 'trigger' | 'buffered'>;

/** Per section, per family: its name and its label names (__name__ and host included) sorted, as remote-write wants them. */
const LABEL_ORDER = FACT_SECTIONS.map((s) => s.families.map((f) => ({ name: f.name, names: ['__name__', 'host', ...f.labels].sort() })));

/**
 * The latest facts of every reporting host, for remote-write: each sample's sections replace the
 * host's previous ones (a partial sample keeps the rest, as /metrics does), and at each interval
 * every host's facts become series, the same names and labels as /metrics (fact-series.ts), with
 * no per-host caps beyond `maxSeriesPerHost`. A host silent for `staleAfterMs` is forgotten.
 */
export class LatestFacts {
  private readonly hosts = new Map<string, { at: number; facts: Facts; key: number }>();

  constructor(private readonly staleAfterMs: number) {}

  get size(): number {
    return this.hosts.size;
  }

  /** Called for every sample the core accepts: a few property copies, nothing encoded here. */
  record(host: string, sample: Sample, now: number): void {
    let h = this.hosts.get(host);
    if (!h) {
      h = { at: now, facts: {}, key: hostKey(host) };
      this.hosts.set(host, h);
    }
    h.at = now;
    const { seq: _s, ts: _t, trigger: _g, buffered: _b, ...facts } = sample;
    Object.assign(h.facts, facts);
  }

  /**
   * Every host's series stamped `now`, in slices of at most `max` series; `onOverflow` counts
   * series past a host's `maxSeriesPerHost`. A generator, so the caller encodes and yields between
   * slices instead of building 1.5M series at once for 20,000 hosts.
   */
  *series(now: number, max: number, maxSeriesPerHost: number, onOverflow: (n: number) => void): Generator<TimeSeries[]> {
    for (const s of this.sharded(now, max, maxSeriesPerHost, onOverflow, 1)) yield s.series;
  }

  /**
   * The same series split between `shards` by host (shardOf): every series of a host goes to the
   * one shard, so a shard sending in order keeps each series in order. One pass over the hosts,
   * a slice filling per shard, so every shard gets work from the start of a collection.
   */
  *sharded(
    now: number,
    max: number,
    maxSeriesPerHost: number,
    onOverflow: (n: number) => void,
    shards: number,
  ): Generator<{ shard: number; series: TimeSeries[] }> {
    const slices: TimeSeries[][] = Array.from({ length: shards }, () => []);
    for (const [host, h] of this.hosts) {
      if (now - h.at >= this.staleAfterMs) {
        this.hosts.delete(host);
        continue;
      }
      const shard = h.key % shards;
      let slice = slices[shard];
      let n = 0;
      let over = 0;
      const sample = h.facts as Sample;
      for (let i = 0; i < FACT_SECTIONS.length; i++) {
        const section = FACT_SECTIONS[i];
        const entries = section.read(sample);
        if (!entries) continue;
        for (const e of entries)
          for (let f = 0; f < section.families.length; f++) {
            const value = e.values[f];
            if (value === undefined) continue;
            if (n >= maxSeriesPerHost) {
              over++;
              continue;
            }
            n++;
            const fam = LABEL_ORDER[i][f];
            const labels = fam.names.map((name) => ({ name, value: name === '__name__' ? fam.name : name === 'host' ? host : e.labels[name] }));
            slice.push({ labels, samples: [{ value, timestamp: now }] });
            if (slice.length >= max) {
              yield { shard, series: slice };
              slice = slices[shard] = [];
            }
          }
      }
      if (over > 0) onOverflow(over);
    }
    for (let shard = 0; shard < shards; shard++) if (slices[shard].length > 0) yield { shard, series: slices[shard] };
  }
}

/** FNV-1a of the host name: stable across restarts and controllers, spread evenly enough for a few dozen shards. */
export function hostKey(host: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < host.length; i++) h = Math.imul(h ^ host.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The shard (of `shards`) that sends every series of `host`. */
export const shardOf = (host: string, shards: number): number => hostKey(host) % shards;
