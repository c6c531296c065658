/** An encoded request body and how many samples it holds. */
export interface Batch {
  body: Uint8Array;
  samples: number;
}

/**
 * Request bodies waiting to be sent, bounded by the samples they hold: when a new batch would
 * pass the bound, the oldest go first (fresh facts matter more than old ones once the receiver
 * is back) and `onDrop` is told how many samples were lost. The batch being sent is not in here.
 */
export class BatchQueue {
  private readonly batches: Batch[] = [];
  private head = 0;
  private queued = 0;

  constructor(
    private readonly maxSamples: number,
    private readonly onDrop: (samples: number) => void,
  ) {}

  /** Samples waiting. */
  get samples(): number {
    return this.queued;
  }

  get length(): number {
    return this.batches.length - this.head;
  }

  /**
   * Queues a batch; `inFlight` is the samples of the batch being sent (or retried) outside the
   * queue, counted against the bound too, so everything waiting stays within `maxSamples`.
   */
  push(batch: Batch, inFlight = 0): void {
    this.batches.push(batch);
    this.queued += batch.samples;
    while (this.queued + inFlight > this.maxSamples && this.length > 0) this.onDrop(this.take()!.samples);
  }

  /** The oldest batch, taken out. */
  take(): Batch | undefined {
    if (this.head >= this.batches.length) return undefined;
    const b = this.batches[this.head];
    this.batches[this.head++] = undefined as unknown as Batch;
    this.queued -= b.samples;
    // Compact now and then so a long-running queue does not keep a growing array of holes.
    if (this.head > 1024 && this.head * 2 > this.batches.length) {
      this.batches.splice(0, this.head);
      this.head = 0;
    }
    return b;
  }

  clear(): void {
    this.batches.length = 0;
    this.head = 0;
    this.queued = 0;
  }
}
