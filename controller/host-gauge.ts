import type { Registry } from 'prom-client';

/**
 * A gauge with one series per host, for the two families every host has (laas_host_up and
 * laas_host_last_seen_timestamp_seconds): 20,000 series at 20,000 agents. prom-client's Gauge
 * keeps series in an object keyed by a hash of the labels, so each set() hashes the labels (once
 * per sample for last-seen) and each scrape's get() lists all keys of a 20,000-key dictionary in
 * one go (~12 ms quiet, several times that on a busy host). Here the series live in a Map keyed by
 * host id: set() is one Map write, and the scrape walks the Map a slice at a time, yielding to
 * the event loop in between. It registers with a prom-client Registry like any metric (get(),
 * reset()), so Registry.metrics() shows the same text.
 */
export class HostGauge {
  readonly type = 'gauge';
  readonly aggregator = 'sum';
  readonly labelNames = ['host'] as const;
  private readonly series = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  set(labels: { host: string }, value: number): void {
    this.series.set(labels.host, value);
  }

  remove(labels: { host: string }): void {
    this.series.delete(labels.host);
  }

  reset(): void {
    this.series.clear();
  }

  /** As prom-client's Gauge.get(): every series at once (Registry.metrics() and JSON use it). */
  async get(): Promise<{ name: string; help: string; type: 'gauge'; aggregator: 'sum'; values: { labels: { host: string }; value: number }[] }> {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: [...this.series].map(([host, value]) => ({ labels: { host }, value })),
    };
  }

  /**
   * The series a slice at a time, walking the live Map: a host set during the walk is still shown
   * (with its newest value), one removed before its turn is not.
   */
  *slices(size: number): Generator<[host: string, value: number][]> {
    let slice: [string, number][] = [];
    for (const entry of this.series) {
      slice.push(entry);
      if (slice.length >= size) {
        yield slice;
        slice = [];
      }
    }
    yield slice;
  }
}
