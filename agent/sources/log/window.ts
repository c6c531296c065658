/**
 * Matches counted over a sliding window in a fixed ring of buckets: memory stays the same however
 * many lines match. The count covers the last `windowMs` to within one bucket (a sixtieth of the
 * window by default): a match leaves the count between `windowMs` and `windowMs` + one bucket after it.
 */
export class WindowCounter {
  private readonly width: number;
  /** One slot more than the window's buckets: the current bucket is partly filled. */
  private readonly slots: number;
  private readonly counts: number[];
  /** The bucket number (time / width) each slot holds counts for; -1 while unused. */
  private readonly ids: number[];
  private latest = -1;

  constructor(
    readonly windowMs: number,
    private readonly buckets = 60,
  ) {
    this.width = Math.max(1, Math.ceil(windowMs / buckets));
    this.slots = buckets + 1;
    this.counts = new Array<number>(this.slots).fill(0);
    this.ids = new Array<number>(this.slots).fill(-1);
  }

  add(now: number, n = 1): void {
    const id = this.bucket(now);
    const slot = id % this.slots;
    if (this.ids[slot] !== id) {
      this.ids[slot] = id;
      this.counts[slot] = 0;
    }
    this.counts[slot] += n;
  }

  count(now: number): number {
    const id = this.bucket(now);
    let sum = 0;
    for (let i = 0; i < this.slots; i++) if (this.ids[i] >= id - this.buckets && this.ids[i] <= id) sum += this.counts[i];
    return sum;
  }

  /** The bucket of `now`; a clock set back empties the ring, since its buckets would lie in the future. */
  private bucket(now: number): number {
    const id = Math.max(0, Math.floor(now / this.width));
    if (id < this.latest) {
      this.ids.fill(-1);
      this.counts.fill(0);
    }
    this.latest = id;
    return id;
  }
}
