import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface Step {
  agents: number;
  connected: number;
  workers: number;
  samplesPerSecond: number;
  decision: { count: number; p50Ms: number | null; p99Ms: number | null };
  dispatch: { faults: number; runs: number; count: number; p99Ms: number | null };
  scrape: { count: number; series: number; maxMs: number | null };
  eventLoopLagMaxMs: number | null;
  scrapeBlockMaxMs: number | null;
  controller: { rssMiBMax: number; cpuPercent: number };
  load: { drops: number; samplesSent: number };
}

/**
 * The controller-scale benchmark's short mode, so it cannot rot: a real controller, 200
 * simulated agents over 2 load workers, faults injected. Checks the output is complete and
 * sane — every agent connected, decisions and dispatches measured — never timing targets.
 */
describe('controller scale, short mode', () => {
  it('200 agents over 2 workers for 10 s: all connected, samples decided, every injected fault dispatched', async () => {
    mkdirSync('reports', { recursive: true });
    const out = `reports/controller-scale-short-${process.pid}.json`;
    const child = spawn(
      process.execPath,
      [
        'dist/bench/controller-scale.js',
        '--steps',
        '200',
        '--workers',
        '2',
        '--seconds',
        '10',
        '--interval-ms',
        '5000',
        '--faults-per-second',
        '2',
        '--out',
        out,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let text = '';
    child.stdout.on('data', (d: Buffer) => {
      text += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      text += d.toString();
    });
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code, text).toBe(0);
    const doc = JSON.parse(readFileSync(out, 'utf8')) as { bench: string; steps: Step[] };
    rmSync(out, { force: true });
    expect(doc.bench).toBe('controller-scale');
    const [s] = doc.steps;
    expect(s.agents).toBe(200);
    expect(s.workers).toBe(2);
    expect(s.connected, text).toBe(200);
    expect(s.load.drops).toBe(0);
    // 200 agents every 5 s for ≥10 s is ≥400 interval samples, plus the faults' samples.
    expect(s.decision.count).toBeGreaterThanOrEqual(300);
    expect(s.samplesPerSecond).toBeGreaterThan(30);
    expect(s.decision.p50Ms).not.toBeNull();
    expect(s.decision.p99Ms!).toBeGreaterThanOrEqual(s.decision.p50Ms!);
    expect(s.dispatch.faults).toBeGreaterThan(5);
    expect(s.dispatch.count).toBe(s.dispatch.faults);
    expect(s.dispatch.p99Ms).not.toBeNull();
    expect(s.scrape.count).toBeGreaterThanOrEqual(1);
    expect(s.scrape.series).toBeGreaterThan(1000);
    expect(s.eventLoopLagMaxMs).not.toBeNull();
    expect(s.scrapeBlockMaxMs).toBeGreaterThan(0);
    expect(s.controller.rssMiBMax).toBeGreaterThan(20);
    expect(s.controller.cpuPercent).toBeGreaterThan(0);
  }, 180_000);
});
