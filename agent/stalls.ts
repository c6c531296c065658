import { performance } from 'node:perf_hooks';

/** The watch timer's period while armed: a stall is seen to within this. */
const RESOLUTION_MS = 1;

export interface Timed<T> {
  value: T;
  /** Wall time of `fn`, in ms. */
  ms: number;
  /** The longest the event loop was blocked while `fn` ran (0 when never), in ms. */
  stallMs: number;
}

/**
 * Runs `fn` with a 1 ms watch timer armed for just that window, and says how long the loop was
 * blocked: the most any turn of the timer came late. Armed only around the work worth watching
 * (the periodic collection), since a timer left on wakes the process 1000 times a second — about
 * half a percent of a core on a busy host, the agent's whole CPU budget. A plain timer rather than
 * perf_hooks' monitorEventLoopDelay: that one allocates a native histogram (~100 KiB) per use,
 * which the agent's RSS budget notices.
 */
export async function timeStalls<T>(fn: () => Promise<T>): Promise<Timed<T>> {
  let last = performance.now();
  let worst = 0;
  const watch = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - RESOLUTION_MS);
    last = now;
  }, RESOLUTION_MS);
  const started = performance.now();
  try {
    const value = await fn();
    const ms = performance.now() - started;
    // One more turn of the timer, so a stall at the very end is recorded too.
    await new Promise((r) => setTimeout(r, RESOLUTION_MS + 1));
    return { value, ms, stallMs: Math.round(Math.max(0, worst) * 10) / 10 };
  } finally {
    clearInterval(watch);
  }
}
