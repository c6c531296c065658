import type { Counter, Gauge } from 'prom-client';
import type { Logger } from '../../protocol/index.js';
import type { RemoteWriteTarget } from './config.js';
import type { LatestFacts } from './latest-facts.js';
import { Shard } from './shard.js';
import { encodeWriteRequest } from './write-request.js';

/** The remote-write metrics (controller/metrics.ts), labelled by the target's URL without credentials. */
export interface RemoteWriteMetrics {
  sent: Counter<'remote'>;
  failed: Counter<'remote'>;
  dropped: Counter<'remote'>;
  retries: Counter<'remote'>;
  queued: Gauge<'remote'>;
}

/**
 * Sends every reporting host's latest facts to one remote-write receiver each interval. Batches
 * are encoded as they are made (protobuf + snappy) and handed to `shards` parallel senders
 * (shard.ts), each owning the hosts whose name hashes to it, so every series goes through one
 * shard and stays in order while the shards' requests overlap (one at a time could not carry
 * 20,000 hosts: bench/RESULTS.md, remote-write). maxQueuedSamples is split between the shards,
 * so what waits stays within it overall.
 */
export class RemoteWriter {
  private readonly shards: Shard[];
  private readonly remote: string;
  private readonly stopping = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private collecting = false;
  /** Shards whose last request failed: the log says when the first fails and when the last delivers again, not once per shard. */
  private failing = 0;

  constructor(
    private readonly target: RemoteWriteTarget,
    private readonly deps: { latest: LatestFacts; metrics: RemoteWriteMetrics; log: Logger; clock?: () => number; random?: () => number },
  ) {
    const u = new URL(target.url);
    u.username = '';
    u.password = '';
    const remote = (this.remote = u.toString());
    const { metrics, log } = deps;
    const n = target.shards;
    this.shards = Array.from({ length: n }, (_, i) => {
      const share = Math.floor(target.maxQueuedSamples / n) + (i < target.maxQueuedSamples % n ? 1 : 0);
      return new Shard(
        target,
        share,
        this.stopping.signal,
        {
          sent: (s) => metrics.sent.inc({ remote }, s),
          failed: (s) => metrics.failed.inc({ remote }, s),
          dropped: (s) => metrics.dropped.inc({ remote }, s),
          retried: () => metrics.retries.inc({ remote }),
          queued: () => metrics.queued.set({ remote }, this.queuedSamples),
          failing: (why, retrying) => {
            if (this.failing++ === 0) log.warn({ remote, err: why, retrying, shard: i }, 'remote-write request failed');
          },
          delivers: (attempts) => {
            if (--this.failing === 0) log.info({ remote, attempts }, 'remote-write delivers again');
          },
        },
        deps.random,
      );
    });
  }

  /** Samples waiting in every shard, the ones in flight included. */
  get queuedSamples(): number {
    let n = 0;
    for (const s of this.shards) n += s.queuedSamples;
    return n;
  }

  start(): void {
    this.timer = setInterval(() => void this.collect(), this.target.intervalMs);
    this.timer.unref();
    for (const s of this.shards) s.start();
  }

  /** Encodes every host's series now and queues them on their shards, yielding to the event loop between batches. */
  async collect(): Promise<void> {
    // A collection still running (a huge fleet on a busy controller) is not doubled up.
    if (this.collecting || this.stopping.signal.aborted) return;
    this.collecting = true;
    try {
      const now = (this.deps.clock ?? Date.now)();
      const { maxSamplesPerSend, maxSeriesPerHost } = this.target;
      const overflow = (n: number) => this.deps.metrics.dropped.inc({ remote: this.remote }, n);
      for (const { shard, series } of this.deps.latest.sharded(now, maxSamplesPerSend, maxSeriesPerHost, overflow, this.shards.length)) {
        this.shards[shard].push({ body: encodeWriteRequest(series), samples: series.length });
        this.deps.metrics.queued.set({ remote: this.remote }, this.queuedSamples);
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.stopping.signal.aborted) return;
      }
    } finally {
      this.collecting = false;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopping.abort();
    await Promise.all(this.shards.map((s) => s.stop()));
  }
}
