import { CHECK_STATES } from '../../protocol/index.js';
import { queryRange } from './prometheus.js';
import { hostOf, mappingsFor, type HistorySource } from './series-map.js';

/** Each host's facts at each step (ms), rebuilt from Prometheus series. */
export type History = Map<string, Map<number, Record<string, unknown>>>;

export interface HistoryOptions {
  url: string;
  source: HistorySource;
  /** The facts the rules read: only their series are fetched. */
  facts: ReadonlySet<string>;
  from: number;
  to: number;
  stepMs: number;
}

export interface LoadedHistory {
  history: History;
  /** Series fetched, and points placed into facts. */
  series: number;
  points: number;
  /** Facts the rules read that no mapping covers (text facts, the top processes…): they stay absent. */
  unmapped: string[];
}

/**
 * Fetches every mapped series of the facts the rules read and folds them into per-host,
 * per-step facts, as the agents would have sent them (the value at each step is Prometheus'
 * own: the latest sample within its lookback).
 */
export async function loadHistory(opts: HistoryOptions): Promise<LoadedHistory> {
  const mappings = mappingsFor(opts.source, opts.facts);
  const covered = new Set(mappings.map((m) => m.fact));
  const history: History = new Map();
  let series = 0;
  let points = 0;
  for (const m of mappings) {
    for (const s of await queryRange(opts.url, m.query, opts.from, opts.to, opts.stepMs)) {
      const host = hostOf(opts.source, s.metric);
      if (host === undefined) continue;
      const key = m.key === undefined ? undefined : s.metric[m.key];
      if (m.key !== undefined && key === undefined) continue;
      series++;
      let steps = history.get(host);
      if (!steps) history.set(host, (steps = new Map<number, Record<string, unknown>>()));
      for (const [t, text] of s.values) {
        const v = Number(text);
        if (!Number.isFinite(v)) continue;
        const at = Math.round(t * 1000);
        let facts = steps.get(at);
        if (!facts) steps.set(at, (facts = {}));
        const fact = (facts[m.fact] ??= {}) as Record<string, unknown>;
        const target = key === undefined ? fact : ((fact[key] ??= {}) as Record<string, unknown>);
        target[m.field] = m.bool ? v !== 0 : v * (m.scale ?? 1);
        // A check's state goes with its status, as the agent sends both.
        if (m.fact === 'check' && m.field === 'status') target.state = CHECK_STATES[v] ?? 'unknown';
        points++;
      }
    }
  }
  return { history, series, points, unmapped: [...opts.facts].filter((f) => !covered.has(f) && f !== 'host') };
}
