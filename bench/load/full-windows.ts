import { cpSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Evaluator } from '../../controller/rules/evaluate.js';
import { loadRules } from '../../controller/rules/load.js';
import { encodeWindows } from '../../controller/rules/windows/snapshot.js';
import { Windows } from '../../controller/rules/windows/store.js';

/** The shipped rule library (every namespace but the demo's) copied beside a bench's own rules. */
export function copyLibrary(rulesDir: string): void {
  for (const ns of readdirSync('rules', { withFileTypes: true }))
    if (ns.isDirectory() && ns.name !== 'demo')
      cpSync(join('rules', ns.name), join(rulesDir, ns.name), { recursive: true, filter: (src) => !src.endsWith('.test.json') });
}

/** The keys the load generator's samples (bench/load/worker.ts) have under each keyed fact. */
const KEYS: Record<string, string[]> = { disk: ['/', '/var'], net: ['eth0'], service: ['svc'] };
/** Fields those samples carry: a window over any other path would never get a value. */
const CARRIED: Record<string, Set<string>> = {
  cpu: new Set(['usage', 'load1', 'load5', 'load15']),
  memory: new Set(['usedPercent', 'availableBytes', 'totalBytes']),
  disk: new Set(['usedPercent', 'freeBytes', 'totalBytes']),
  net: new Set(['rxBytesPerSec', 'txBytesPerSec']),
  service: new Set(['up', 'since']),
};

/** Values like those the load generator sends (a steady disk, a service up, percentages). */
const valueOf = (field: string) => (field === 'up' ? 1 : field === 'freeBytes' ? 2e10 + Math.round(Math.random() * 1e6) : Math.random() * 100);

/**
 * A windows.bin in `dataDir` as a controller would have written after running the rules in
 * `rulesDir` for as long as their longest window, for agents `ids`: every windowed path their
 * samples carry is full from the start (a sample every `intervalMs`, thinned or kept as runs as
 * the live controller keeps it), so the bench measures the steady state, not windows filling.
 */
export function writeFullWindows(
  rulesDir: string,
  dataDir: string,
  ids: readonly string[],
  intervalMs: number,
  now: number,
): { series: number; bytes: number } {
  const { rules, errors } = loadRules([rulesDir]);
  if (errors.length) throw new Error(`bench rules do not load: ${JSON.stringify(errors[0])}`);
  const windows = new Windows();
  new Evaluator(rules, windows);
  for (const [seriesId, keep] of windows.retained) {
    const [fact, path] = seriesId.split('\u0000');
    const field =
      path
        .split(/[.[\]']+/)
        .filter(Boolean)
        .pop() ?? '';
    if (!CARRIED[fact]?.has(field)) continue;
    const wildcard = path.includes('*');
    const keys = wildcard ? (KEYS[fact] ?? ['']) : [''];
    const since = now - keep.ms;
    for (const id of ids)
      for (const key of keys) {
        const points: [number, number][] = [];
        for (let at = since + intervalMs; at < now; at += intervalMs) points.push([at, valueOf(field)]);
        windows.adopt(id, seriesId, key, windows.seeded(seriesId, since, points));
      }
  }
  const buf = encodeWindows(windows, now);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dataDir, 'windows.bin'), buf, { mode: 0o600 });
  return { series: windows.stats().series, bytes: buf.length };
}
