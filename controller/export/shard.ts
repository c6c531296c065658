import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../../protocol/index.js';
import type { RemoteWriteTarget } from './config.js';
import { BatchQueue, type Batch } from './queue.js';
import { WRITE_HEADERS } from './write-request.js';

/** What one request came to: sent, refused for good (4xx: the same bytes would be refused again), or worth retrying. */
type Outcome = { ok: true } | { ok: false; retry: boolean; why: string; retryAfterMs?: number };

/** What a shard tells its writer (which owns the metrics and the log). */
export interface ShardEvents {
  sent(samples: number): void;
  /** Refused for good. */
  failed(samples: number): void;
  dropped(samples: number): void;
  retried(): void;
  /** Its queue changed: the writer sets the gauge to the sum over its shards. */
  queued(): void;
  /** A request failed after the last one went through (`why`), or one went through after failures. */
  failing(why: string, retry: boolean): void;
  delivers(attempts: number): void;
}

/**
 * One of a writer's parallel senders: its own queue of encoded batches (bounded by its share of
 * maxQueuedSamples, the batch in flight included, the oldest dropped past it) and its own loop
 * sending them one at a time, in order: on 5xx, 429 or a network error the same batch is retried
 * with exponential backoff and jitter (Retry-After honoured, up to maxBackoff), so a newer batch
 * never passes it; on another 4xx it is dropped and counted as failed. The writer gives a shard
 * every series of the hosts it owns, so each series stays in order.
 */
export class Shard {
  private readonly queue: BatchQueue;
  private wake: (() => void) | undefined;
  private sending: Batch | undefined;
  private failing = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly target: RemoteWriteTarget,
    /** This shard's share of maxQueuedSamples. */
    readonly maxQueuedSamples: number,
    private readonly signal: AbortSignal,
    private readonly on: ShardEvents,
    private readonly random: () => number = Math.random,
  ) {
    this.queue = new BatchQueue(maxQueuedSamples, (n) => on.dropped(n));
  }

  /** Samples waiting, the one in flight included. */
  get queuedSamples(): number {
    return this.queue.samples + (this.sending?.samples ?? 0);
  }

  start(): void {
    this.loop = this.send();
  }

  push(batch: Batch): void {
    // The batch being retried counts against the bound: the queue gauge never passes this shard's share.
    this.queue.push(batch, this.sending?.samples ?? 0);
    this.wake?.();
  }

  private async send(): Promise<void> {
    const signal = this.signal;
    let attempt = 0;
    while (!signal.aborted) {
      this.sending ??= this.queue.take();
      this.on.queued();
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
        this.on.sent(batch.samples);
        if (this.failing) this.on.delivers(attempt + 1);
        this.failing = false;
        this.sending = undefined;
        attempt = 0;
        continue;
      }
      if (!this.failing) this.on.failing(outcome.why, outcome.retry);
      this.failing = true;
      if (!outcome.retry) {
        this.on.failed(batch.samples);
        this.sending = undefined;
        attempt = 0;
        continue;
      }
      this.on.retried();
      await sleep(this.backoff(attempt++, outcome.retryAfterMs), undefined, { signal }).catch(() => undefined);
    }
  }

  /** Doubling from minBackoff up to maxBackoff, each wait between half and all of it (jitter: many controllers do not retry in step). */
  backoff(attempt: number, retryAfterMs?: number): number {
    const { minBackoffMs, maxBackoffMs } = this.target;
    const base = Math.min(maxBackoffMs, minBackoffMs * 2 ** Math.min(attempt, 30));
    const jittered = base * (0.5 + 0.5 * this.random());
    return Math.min(maxBackoffMs, Math.max(jittered, retryAfterMs ?? 0));
  }

  private async post(body: Uint8Array): Promise<Outcome> {
    try {
      const res = await fetch(this.target.url, {
        method: 'POST',
        headers: { ...WRITE_HEADERS, 'User-Agent': 'laas-controller', ...this.target.headers },
        body,
        signal: AbortSignal.any([this.signal, AbortSignal.timeout(this.target.timeoutMs)]),
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

  /** Waits for the loop to end (the writer aborts the signal first), then forgets what waits. */
  async stop(): Promise<void> {
    await this.loop;
    this.queue.clear();
  }
}
