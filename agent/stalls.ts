import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

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
 * Runs `fn` with an event-loop delay monitor armed for just that window, and says how long the
 * loop was blocked. Armed only around the work worth watching (the periodic collection), since a
 * monitor left on wakes the process 100–1000 times a second — about half a percent of a core on
 * a busy host, the agent's whole CPU budget.
 */
export async function timeStalls<T>(fn: () => Promise<T>): Promise<Timed<T>> {
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  h.enable();
  const started = performance.now();
  try {
    const value = await fn();
    const ms = performance.now() - started;
    // One more turn of the timer, so a stall at the very end is recorded too.
    await new Promise((r) => setTimeout(r, RESOLUTION_MS + 1));
    h.disable();
    // Each recorded value is the time between two timer turns: the period plus any stall.
    const stallMs = h.count > 0 ? Math.max(0, h.max / 1e6 - RESOLUTION_MS) : 0;
    return { value, ms, stallMs: Math.round(stallMs * 10) / 10 };
  } finally {
    h.disable();
  }
}
