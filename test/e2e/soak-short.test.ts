import { readFileSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** The soak benchmark's short mode, so it cannot rot: every fault ends in a work order, none left open. */
describe('soak, short mode', () => {
  it('100 simulated agents with random faults for 10 s: every fault healed, nothing left firing or open', async () => {
    const out = `reports/soak-short-${process.pid}.json`;
    const child = spawn(process.execPath, ['dist/bench/soak.js', '--agents', '100', '--seconds', '10', '--faults-per-second', '4', '--out', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (d: Buffer) => {
      text += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      text += d.toString();
    });
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code, text).toBe(0);
    const r = JSON.parse(readFileSync(out, 'utf8')) as {
      faults: number;
      workOrders: number;
      succeeded: number;
      open: number;
      unexplained: number;
      stuck: unknown[];
    };
    rmSync(out, { force: true });
    expect(r.faults).toBeGreaterThan(20);
    expect(r.workOrders).toBe(r.faults);
    expect(r.succeeded).toBe(r.faults);
    expect(r.open).toBe(0);
    expect(r.stuck).toEqual([]);
  }, 120_000);
});
