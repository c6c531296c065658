import { ANY_KEY, parsePath } from '../rules/path.js';
import type { Windows } from '../rules/windows/store.js';
import { windowValue } from '../rules/windows/store.js';
import { queryRange } from './prometheus.js';
import { hostOf, SERIES, type HistorySource, type SeriesMapping } from './series-map.js';

export interface RebuildOptions {
  url: string;
  source: HistorySource;
  now: number;
  /** Gives up on Prometheus after this long: the controller starts anyway. */
  timeoutMs: number;
}

export interface RebuildOutcome {
  /** Series put into the windows, and their points. */
  series: number;
  points: number;
  /** Windowed paths no Prometheus series stands for (docs/backtest.md): they fill from samples. */
  unmapped: string[];
}

/** One `query_range` step per window: fine enough for its functions, at most 10,000 points (Series.MAX_POINTS). */
const MIN_STEP_MS = 15_000;

/** The mapping a windowed path reads, and the key it names (undefined: any key, or none). */
export function mappingOf(source: HistorySource, fact: string, path: string): { m: SeriesMapping; key?: string } | undefined {
  const tokens = parsePath(path);
  if (typeof tokens === 'string') return undefined;
  const own = SERIES[source].mappings.filter((m) => m.fact === fact);
  const keyed = own.some((m) => m.key !== undefined);
  if (keyed ? tokens.length !== 2 : tokens.length !== 1) return undefined;
  const field = tokens[tokens.length - 1];
  const m = own.find((x) => x.field === field);
  if (!m) return undefined;
  const key = keyed ? tokens[0] : undefined;
  if (typeof key === 'number') return undefined;
  return { m, ...(key !== undefined && key !== ANY_KEY ? { key } : {}) };
}

/**
 * Fills the windows the rules read from Prometheus' history of the same series (the ones laas
 * exports, or node_exporter's), so a controller that starts without a snapshot judges windowed
 * rules at once instead of after their longest window. A series this process already has (from
 * the snapshot or a sample) is left as it is; each rebuilt one starts being watched at its first
 * point, so a window Prometheus holds only part of is "not enough data", as it would be live.
 */
export async function rebuildWindows(windows: Windows, opts: RebuildOptions): Promise<RebuildOutcome> {
  const out: RebuildOutcome = { series: 0, points: 0, unmapped: [] };
  const signal = AbortSignal.timeout(opts.timeoutMs);
  for (const [seriesId, keep] of windows.retained) {
    const [fact, path] = seriesId.split('\u0000');
    const found = mappingOf(opts.source, fact, path);
    if (!found) {
      out.unmapped.push(`${fact} ${path}`);
      continue;
    }
    const { m, key } = found;
    const stepMs = Math.max(MIN_STEP_MS, Math.ceil(keep.ms / 10_000 / 1000) * 1000);
    const from = opts.now - keep.ms;
    for (const s of await queryRange(opts.url, m.query, from, opts.now, stepMs, signal)) {
      const host = hostOf(opts.source, s.metric);
      if (host === undefined) continue;
      const label = m.key === undefined ? undefined : s.metric[m.key];
      if (m.key !== undefined && (label === undefined || (key !== undefined && label !== key))) continue;
      const points: [number, number][] = [];
      for (const [t, text] of s.values) {
        const v = Number(text);
        if (!Number.isFinite(v)) continue;
        points.push([Math.round(t * 1000), windowValue(m.bool ? v !== 0 : v * (m.scale ?? 1))]);
      }
      if (points.length === 0) continue;
      // Under a wildcard each key is its own series; a path naming one key (or none) is the series ''.
      const groupKey = m.key !== undefined && key === undefined ? label! : '';
      if (windows.adopt(host, seriesId, groupKey, windows.seeded(seriesId, points[0][0], points))) {
        out.series++;
        out.points += points.length;
      }
    }
  }
  return out;
}
