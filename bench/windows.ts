/**
 * What windowed conditions cost the controller's decision code: the shipped rule set with its
 * windowed rules (disk-fills-in-4h: predict over 1 h per mount; oom-kill: rate over 10 m;
 * service-flapping: changes over 1 h per service; check-stale: absent over 5 m per check) against
 * the same set without them, in one process, alternating. N hosts each send a sample every
 * `--every` of simulated time (every fact of issue 18: test/helpers/every-fact.ts, values varying)
 * through the same Evaluator the Core uses; after `--minutes` of simulated time (so the 1 h
 * windows are full) it times every evaluation of the last simulated 5 minutes and reads the
 * window store's series, points and bytes, and the heap after a GC.
 *
 *   npm run build && node --expose-gc dist/bench/windows.js [--hosts 20000] [--minutes 65] [--every 10] [--out FILE]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Evaluator, factsOf } from '../controller/rules/evaluate.js';
import { loadRules } from '../controller/rules/load.js';
import { windowOf } from '../controller/rules/compile.js';
import type { Rule } from '../controller/rules/schema.js';
import { everyFact } from '../test/helpers/every-fact.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const hasWindow = (c: unknown): boolean => {
  if (typeof c !== 'object' || c === null) return false;
  const o = c as Record<string, unknown>;
  if (Array.isArray(o.all) || Array.isArray(o.any)) return ((o.all ?? o.any) as unknown[]).some(hasWindow);
  if (o.not !== undefined) return hasWindow(o.not);
  return windowOf(o) !== undefined;
};

const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];

async function run(rules: Rule[], hosts: number, minutes: number, everyS: number) {
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const ev = new Evaluator(rules);
  const views = Array.from({ length: hosts }, (_, i) => ({ id: `host-${i}`, labels: { role: i % 2 ? 'web' : 'db' } }));
  const T0 = Date.parse('2026-01-01T00:00:00Z');
  const rounds = Math.floor((minutes * 60) / everyS);
  const timedFrom = rounds - Math.floor(300 / everyS);
  const times: number[] = [];
  const wall = performance.now();
  for (let r = 0; r < rounds; r++) {
    const at = T0 + r * everyS * 1000;
    for (let h = 0; h < hosts; h++) {
      const sample = everyFact(h + r, at);
      // the disks fill a little, the service flaps now and then: windows see changing values
      (sample.disk!['/'] as { freeBytes: number }).freeBytes -= r * 1e6;
      const facts = factsOf(views[h], { seq: r, ts: at, trigger: 'interval', ...sample });
      if (r >= timedFrom) {
        const t = performance.now();
        await ev.evaluate(views[h], facts, at);
        times.push(performance.now() - t);
      } else await ev.evaluate(views[h], facts, at);
    }
  }
  const wallS = (performance.now() - wall) / 1000;
  global.gc?.();
  const stats = ev.windows.stats();
  times.sort((a, b) => a - b);
  return {
    rules: rules.length,
    windowedRules: rules.filter((r) => hasWindow(r.when)).length,
    evaluations: hosts * rounds,
    wallSeconds: Math.round(wallS),
    evalMicros: { p50: Math.round(q(times, 0.5) * 1000), p99: Math.round(q(times, 0.99) * 1000), max: Math.round(times[times.length - 1] * 1000) },
    windowSeries: stats.series,
    windowPoints: stats.points,
    windowMiB: Math.round((stats.bytes / 2 ** 20) * 10) / 10,
    bytesPerSeries: stats.series ? Math.round(stats.bytes / stats.series) : 0,
    heapGrowthMiB: Math.round(((process.memoryUsage().heapUsed - heapBefore) / 2 ** 20) * 10) / 10,
  };
}

async function main(): Promise<void> {
  const hosts = Number(arg('hosts', '20000'));
  const minutes = Number(arg('minutes', '65'));
  const everyS = Number(arg('every', '10'));
  const out = arg('out', 'bench/results/windows.json');
  if (!global.gc) console.error('run with node --expose-gc for heap figures after a GC');
  const { rules, errors } = loadRules(['rules']);
  if (errors.length) throw new Error(`rules/ does not load: ${errors.map((e) => e.message).join('; ')}`);
  const withWhen = rules.filter((r) => r.when);
  const without = withWhen.filter((r) => !hasWindow(r.when));
  const results: Record<string, unknown>[] = [];
  // alternating, twice: the machine is shared and noisy
  for (const round of [1, 2])
    for (const [name, set] of [
      ['without windows', without],
      ['with windows', withWhen],
    ] as const) {
      const r = { variant: name, round, hosts, minutes, everySeconds: everyS, ...(await run(set, hosts, minutes, everyS)) };
      console.log(JSON.stringify(r));
      results.push(r);
    }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, results }, null, 2)}\n`);
}

await main();
