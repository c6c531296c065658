import { LaasError } from '../../protocol/index.js';

export interface RangeSeries {
  metric: Record<string, string>;
  /** [unix seconds, value as Prometheus prints it]. */
  values: [number, string][];
}

/** Prometheus answers at most 11,000 points per series and query: longer ranges go in pieces. */
const MAX_POINTS = 10_000;

/**
 * GET /api/v1/query_range from `from` to `to` (ms) every `stepMs`, in pieces of at most
 * MAX_POINTS steps; the pieces' points are joined per series.
 */
export async function queryRange(url: string, query: string, from: number, to: number, stepMs: number, signal?: AbortSignal): Promise<RangeSeries[]> {
  const bySeries = new Map<string, RangeSeries>();
  const span = stepMs * MAX_POINTS;
  for (let start = from; start <= to; start += span + stepMs) {
    const end = Math.min(to, start + span);
    const params = new URLSearchParams({ query, start: String(start / 1000), end: String(end / 1000), step: `${stepMs / 1000}s` });
    let res: Response;
    try {
      res = await fetch(`${url.replace(/\/+$/, '')}/api/v1/query_range?${params.toString()}`, { ...(signal ? { signal } : {}) });
    } catch (e) {
      throw new LaasError('BACKTEST_PROMETHEUS', `cannot reach Prometheus at ${url}: ${(e as Error).message}; check --prometheus`);
    }
    const text = await res.text();
    let body: { status?: string; error?: string; data?: { result?: RangeSeries[] } };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new LaasError('BACKTEST_PROMETHEUS', `${url} answered ${res.status} with something that is not Prometheus' JSON: ${text.slice(0, 200)}`);
    }
    if (body.status !== 'success') throw new LaasError('BACKTEST_PROMETHEUS', `Prometheus refused ${JSON.stringify(query)}: ${body.error ?? res.status}`);
    for (const s of body.data?.result ?? []) {
      const k = JSON.stringify(Object.entries(s.metric).sort());
      const have = bySeries.get(k);
      if (have) have.values.push(...s.values);
      else bySeries.set(k, { metric: s.metric, values: [...s.values] });
    }
  }
  return [...bySeries.values()];
}
