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
  private timers: { at: number; seq: number; fn: () => void }[] = [];
  private seq = 0;

  constructor(private t: number) {}

  now(): number {
    return this.t;
  }

  after(ms: number, fn: () => void): Timer {
    const entry = { at: this.t + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(entry);
    return {
      cancel: () => {
        this.timers = this.timers.filter((e) => e !== entry);
      },
    };
  }

  /** Moves to `to`, firing each due timer at its own time; `settle` lets async work finish between timers. */
  async advanceTo(to: number, settle: () => Promise<void> = async () => undefined): Promise<void> {
    for (let guard = 0; guard < 100_000; guard++) {
      const due = this.timers.filter((e) => e.at <= to).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((e) => e !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
      await settle();
    }
    this.t = Math.max(this.t, to);
    await settle();
  }
}
