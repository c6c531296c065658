import { describe, expect, it } from 'vitest';
import { timeStalls } from '../../../agent/stalls.js';

describe('timeStalls', () => {
  it('sees a synchronous block inside the work it wraps, and passes the value through', async () => {
    const r = await timeStalls(async () => {
      await new Promise((res) => setTimeout(res, 5));
      const until = Date.now() + 60;
      while (Date.now() < until) {
        /* block the loop, as a synchronous child process would */
      }
      return 42;
    });
    expect(r.value).toBe(42);
    expect(r.stallMs).toBeGreaterThanOrEqual(50);
    expect(r.ms).toBeGreaterThanOrEqual(60);
  });

  it('reports no stall longer than the work itself took when the work only waits', async () => {
    const r = await timeStalls(() => new Promise((res) => setTimeout(() => res('done'), 30)));
    expect(r.value).toBe('done');
    // Waiting is not blocking: whatever is recorded is scheduling noise, never the whole wait plus a block.
    expect(r.stallMs).toBeLessThan(r.ms + 5);
  });
});
