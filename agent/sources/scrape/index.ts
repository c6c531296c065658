import type { Logger, Sample } from '../../../protocol/index.js';
import type { AgentConfig } from '../../config.js';
import type { FactSource, SourceContext } from '../types.js';
import type { ScrapeEntry } from './config.js';
import { scrapeBody } from './http.js';
import { parseExposition } from './parse.js';
import { describeDrops, SeriesSet, totalDrops, type SeriesLimits } from './series.js';
import { readTextfiles } from './textfile.js';

type MetricFact = NonNullable<Sample['metric']>;
type SourceSeries = MetricFact[string];

/**
 * Prometheus exporters and node_exporter textfile directories (`"scrape"` in agent.json): each
 * source's series, capped, under its name in the `metric` fact, beside the synthetic series
 * Prometheus adds to every scrape (`up`, `scrape_duration_seconds`, `scrape_samples_scraped`)
 * and `scrape_series_dropped`.
 */
export function createScrapeSource(config: AgentConfig, ctx: SourceContext): FactSource<'metric'> | undefined {
  const entries = config.sources.scrape;
  if (entries.length === 0) return undefined;
  const targets = entries.map((e) => new Target(e, ctx.log.child({ source: 'scrape', scrape: e.name })));
  return {
    fact: 'metric',
    start: () => targets.forEach((t) => t.start()),
    stop: async () => {
      await Promise.all(targets.map((t) => t.stop()));
    },
    snapshot: () => {
      const out: MetricFact = {};
      for (const t of targets) if (t.series !== undefined) out[t.entry.name] = t.series;
      return Object.keys(out).length === 0 ? undefined : out;
    },
  };
}

class Target {
  /** The latest scrape's series, synthetic ones included; undefined before the first. */
  series: SourceSeries | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private readonly limits: SeriesLimits;
  /** What was last logged, so a failure or a drop is logged once per change, not every scrape. */
  private lastError: string | undefined;
  private lastDrops: string | undefined;

  constructor(
    readonly entry: ScrapeEntry,
    private readonly log: Logger,
  ) {
    this.limits = {
      maxSeries: entry.maxSeries,
      maxBytes: entry.maxBytes,
      ...(entry.match ? { match: entry.match.map((m) => new RegExp(`^(?:${m})$`)) } : {}),
    };
  }

  start(): void {
    // Jittered, so sources configured together do not all scrape in the same instant.
    this.schedule(Math.random() * Math.min(this.entry.interval / 10, 1000));
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.abort.abort();
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.abort.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.running = this.scrape().finally(() => {
        this.running = undefined;
        this.schedule(this.entry.interval);
      });
    }, delayMs);
  }

  /** One scrape; never throws: a failure is `up` 0 with its reason logged. */
  private async scrape(): Promise<void> {
    const started = performance.now();
    const set = new SeriesSet(this.limits);
    let extra: Record<string, number> = {};
    let samples = 0;
    let error: string | undefined;
    try {
      if (this.entry.url !== undefined) {
        const body = await scrapeBody(this.entry.url, this.entry.timeout, this.entry.maxBodyBytes, this.abort.signal);
        const r = await parseExposition(body.text, (n, l, v) => set.add(n, l, v), { openMetrics: body.openMetrics });
        set.addOversize(r.longLines);
        samples = r.samples;
      } else if (this.entry.textfile !== undefined) {
        const r = await readTextfiles(this.entry.textfile, set, this.entry.maxBodyBytes);
        extra = r.mtimes;
        samples = r.samples;
        if (r.errors.length > 0) error = r.errors.join('; ');
      }
    } catch (e) {
      error = (e as Error).message;
    }
    if (this.abort.signal.aborted) return;
    // An exporter whose page failed half-way gives no series: half a page would read as facts.
    const failedWhole = error !== undefined && this.entry.url !== undefined;
    const kept = failedWhole ? {} : set.result();
    const drops = describeDrops(set.drops, this.limits);
    this.series = {
      ...kept,
      ...extra,
      up: error === undefined ? 1 : 0,
      scrape_duration_seconds: Math.round(performance.now() - started) / 1000,
      scrape_samples_scraped: samples,
      scrape_series_dropped: failedWhole ? 0 : totalDrops(set.drops),
    };
    this.report(error, failedWhole ? undefined : drops);
  }

  private report(error: string | undefined, drops: string | undefined): void {
    const where = this.entry.url ?? this.entry.textfile;
    if (error !== this.lastError) {
      if (error !== undefined) this.log.warn({ target: where, reason: error }, `scrape ${this.entry.name} failed: ${error.slice(0, 500)}`);
      else if (this.lastError !== undefined) this.log.info({ target: where }, `scrape ${this.entry.name} works again`);
      this.lastError = error;
    }
    // Keyed by the reasons, not their counts, which may move a little every scrape.
    const dropKey = drops?.replace(/\d+/g, '#');
    if (dropKey !== this.lastDrops) {
      if (drops !== undefined) this.log.warn({ target: where, reason: drops }, `scrape ${this.entry.name}: ${drops}`);
      this.lastDrops = dropKey;
    }
  }
}
