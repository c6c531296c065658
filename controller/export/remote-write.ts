import { setTimeout as sleep } from 'node:timers/promises';
import type { Counter, Gauge } from 'prom-client';
import { errorMessage, type Logger } from '../../protocol/index.js';
import type { RemoteWriteTarget } from './config.js';
import type { LatestFacts } from './latest-facts.js';
import { BatchQueue, type Batch } from './queue.js';
import { WRITE_HEADERS, encodeWriteRequest } from './write-request.js';

/** The remote-write metrics (controller/metrics.ts), labelled by the target's URL without credentials. */
export interface RemoteWriteMetrics {
  sent: Counter<'remote'>;
  failed: Counter<'remote'>;
  dropped: Counter<'remote'>;
  retries: Counter<'remote'>;
  queued: Gauge<'remote'>;
}

/** What one request came to: sent, refused for good (4xx: the same bytes would be refused again), or worth retrying. */
type Outcome = { ok: true } | { ok: false; retry: boolean; why: string; retryAfterMs?: number };

/**
 * Sends every reporting host's latest facts to one remote-write receiver each interval. Batches
 * are encoded as they are made (protobuf + snappy) and queued with a bound on the samples they
 * hold (the oldest dropped past it), then sent one at a time, in order: on 5xx, 429 or a network
 * error the same batch is retried with exponential backoff and jitter (Retry-After honoured, up
 * to maxBackoff); on another 4xx it is dropped and counted as failed.
 */
export class RemoteWriter {
  private readonly queue: BatchQueue;
  private readonly remote: string;
  private readonly stopping = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private collecting = false;
  private sending: Batch | undefined;
  private failing = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly target: RemoteWriteTarget,
    private readonly deps: { latest: LatestFacts; metrics: RemoteWriteMetrics; log: Logger; clock?: () => number; random?: () => number },
  ) {
    const u = new URL(target.url);
    u.username = '';
    u.password = '';
    this.remote = u.toString();
    this.queue = new BatchQueue(target.maxQueuedSamples, (n) => {
      deps.metrics.dropped.inc({ remote: this.remote }, n);
    });
  }

  /** Samples waiting, the one in flight included. */
  get queuedSamples(): number {
    return this.queue.samples + (this.sending?.samples ?? 0);
  }

  start(): void {
    this.timer = setInterval(() => void this.collect(), this.target.intervalMs);
    this.timer.unref();
    this.loop = this.send();
  }

  /** Encodes every host's series now and queues them, yielding to the event loop between batches. */
  async collect(): Promise<void> {
    // A collection still running (a huge fleet on a busy controller) is not doubled up.
    if (this.collecting || this.stopping.signal.aborted) return;
    this.collecting = true;
    try {
      const now = (this.deps.clock ?? Date.now)();
      const overflow = (n: number) => this.deps.metrics.dropped.inc({ remote: this.remote }, n);
      for (const series of this.deps.latest.series(now, this.target.maxSamplesPerSend, this.target.maxSeriesPerHost, overflow)) {
        // The batch being retried counts against the bound: the queue gauge never passes maxQueuedSamples.
        this.queue.push({ body: encodeWriteRequest(series), samples: series.length }, this.sending?.samples ?? 0);
        this.wake?.();
        this.deps.metrics.queued.set({ remote: this.remote }, this.queuedSamples);
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.stopping.signal.aborted) return;
      }
    } finally {
      this.collecting = false;
    }
  }

  private async send(): Promise<void> {
    const { metrics } = this.deps;
    const signal = this.stopping.signal;
    let attempt = 0;
    while (!signal.aborted) {
      this.sending ??= this.queue.take();
      metrics.queued.set({ remote: this.remote }, this.queuedSamples);
      if (!this.sending) {
        // The abort listener goes with the wait: one left per idle spell (each interval) piled up for good.
        await new Promise<void>((resolve) => {
          const done = () => {
            signal.removeEventListener('abort', done);
            this.wake = undefined;
            resolve();
          };
          this.wake = done;
          signal.addEventListener('abort', done, { once: true });
        });
        continue;
      }
      const batch = this.sending;
      const outcome = await this.post(batch.body);
      if (signal.aborted) break;
      if (outcome.ok) {
        metrics.sent.inc({ remote: this.remote }, batch.samples);
        if (this.failing) this.deps.log.info({ remote: this.remote, attempts: attempt + 1 }, 'remote-write delivers again');
        this.failing = false;
        this.sending = undefined;
        attempt = 0;
        continue;
      }
      if (!this.failing) this.deps.log.warn({ remote: this.remote, err: outcome.why, retrying: outcome.retry }, 'remote-write request failed');
      this.failing = true;
      if (!outcome.retry) {
        metrics.failed.inc({ remote: this.remote }, batch.samples);
        this.sending = undefined;
        attempt = 0;
        continue;
      }
      metrics.retries.inc({ remote: this.remote });
      await sleep(this.backoff(attempt++, outcome.retryAfterMs), undefined, { signal }).catch(() => undefined);
    }
  }

  /** Doubling from minBackoff up to maxBackoff, each wait between half and all of it (jitter: many controllers do not retry in step). */
  backoff(attempt: number, retryAfterMs?: number): number {
    const { minBackoffMs, maxBackoffMs } = this.target;
    const base = Math.min(maxBackoffMs, minBackoffMs * 2 ** Math.min(attempt, 30));
    const jittered = base * (0.5 + 0.5 * (this.deps.random ?? Math.random)());
    return Math.min(maxBackoffMs, Math.max(jittered, retryAfterMs ?? 0));
  }

  private async post(body: Uint8Array): Promise<Outcome> {
    try {
      const res = await fetch(this.target.url, {
        method: 'POST',
        headers: { ...WRITE_HEADERS, 'User-Agent': 'laas-controller', ...this.target.headers },
        body,
        signal: AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.target.timeoutMs)]),
      });
      // Read to the end either way, so the connection is kept for the next request.
      const text = (await res.text()).slice(0, 300);
      if (res.ok) return { ok: true };
      const why = `HTTP ${res.status}${text ? `: ${text.trim()}` : ''}`;
      const retry = res.status === 429 || res.status >= 500;
      const after = Number(res.headers.get('retry-after'));
      return { ok: false, retry, why, ...(res.status === 429 && after > 0 ? { retryAfterMs: after * 1000 } : {}) };
    } catch (e) {
      return { ok: false, retry: true, why: errorMessage(e) };
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopping.abort();
    await this.loop;
    this.queue.clear();
  }
}
