/**
 * Time for everything that waits, expires or rate-limits. The controller runs on the real
 * clock; `laas rules test` and unit tests run on a simulated one that jumps, so a test of an
 * hour-long window takes milliseconds.
 */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  now(): number;
  after(ms: number, fn: () => void): Timer;
}

/** setTimeout's longest delay; a longer one fires after 1 ms (a 30-day silence re-armed itself every millisecond). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export const realClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const due = Date.now() + Math.max(0, ms);
    let t: NodeJS.Timeout;
    const arm = (wait: number) => {
      t = setTimeout(() => {
        const left = due - Date.now();
        if (left > 0 && wait === MAX_TIMEOUT_MS) arm(Math.min(left, MAX_TIMEOUT_MS));
        else fn();
      }, wait);
      t.unref();
    };
    arm(Math.min(Math.max(0, ms), MAX_TIMEOUT_MS));
    return { cancel: () => clearTimeout(t) };
  },
};

/** A clock that moves only when told; timers due on the way fire in time order. */
export class SimClock implements Clock {
  /** A binary min-heap by (at, seq): a long rule test schedules tens of thousands of timers. */
  private heap: { at: number; seq: number; fn: () => void; cancelled: boolean }[] = [];
  private seq = 0;

  constructor(private t: number) {}

  now(): number {
    return this.t;
  }

  after(ms: number, fn: () => void): Timer {
    const entry = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.push(entry);
    return {
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }

  /** Moves to `to`, firing each due timer at its own time; `settle` lets async work finish between timers. */
  async advanceTo(to: number, settle: () => Promise<void> = async () => undefined): Promise<void> {
    for (let guard = 0; guard < 10_000_000; guard++) {
      const due = this.heap[0];
      if (!due || due.at > to) break;
      this.pop();
      if (due.cancelled) continue;
      this.t = Math.max(this.t, due.at);
      due.fn();
      await settle();
    }
    this.t = Math.max(this.t, to);
    await settle();
  }

  private less(i: number, j: number): boolean {
    const a = this.heap[i];
    const b = this.heap[j];
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private swap(i: number, j: number): void {
    [this.heap[i], this.heap[j]] = [this.heap[j], this.heap[i]];
  }

  private push(e: (typeof this.heap)[number]): void {
    this.heap.push(e);
    for (let i = this.heap.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private pop(): void {
    const last = this.heap.pop()!;
    if (this.heap.length === 0) return;
    this.heap[0] = last;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.heap.length && this.less(l, m)) m = l;
      if (r < this.heap.length && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }
}
