/**
 * What parsing a big exporter page costs the agent: an 8 MiB page (the default maxBodyBytes) of
 * ~100,000 series parsed into one source's capped series (parse, then result(), as the scrape
 * source does), timing the whole parse and the longest event-loop stall: a 1 ms timer's worst
 * lateness, measured beside it. Each parse runs in a fresh child process with the Node flags and
 * environment of the installed agent (packaging/systemd/laas-agent.service: --jitless, one thread),
 * since that is where the agent parses.
 *
 * On a shared machine a stall is also time the process waited for a core, which the parser cannot
 * help; so for every gap of the timer the child also reads its own CPU time over the gap
 * (process.cpuUsage; --single-threaded, so GC and all are on this thread): `ownStallMs` is the
 * most CPU the process spent in one gap, i.e. the longest the loop was blocked by its own work.
 *
 * --before DIR runs the same with another build's parse.js and series.js (e.g. esbuild of the
 * previous commit's agent/sources/scrape/{parse,series}.ts), alternating with this build, so both
 * are measured in the same run.
 *
 *   npm run build && node dist/bench/scrape-parse.js [--runs 3] [--before DIR] [--out bench/results/scrape-parse.json]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as parseModule from '../agent/sources/scrape/parse.js';
import type * as seriesModule from '../agent/sources/scrape/series.js';
import { unitEnv, unitFlags } from './footprint-proc.js';

type ParseModule = typeof parseModule;
type SeriesModule = typeof seriesModule;

interface Outcome {
  ms: number;
  cpuMs: number;
  maxStallMs: number;
  ownStallMs: number;
  resultMs: number;
  kept: number;
  dropped: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

/** The page as the agent holds it: one flat string decoded from a buffer, no garbage of its making left behind. */
function page(bytes: number): string {
  const buf = Buffer.alloc(bytes);
  let size = 0;
  for (let i = 0; ; i++) {
    const line = `http_requests_total{code="${200 + (i % 5)}",handler="/api/v1/items/${i}",method="get"} ${i * 3}\n`;
    if (size + line.length > bytes) break;
    size += buf.write(line, size, 'latin1');
  }
  return buf.toString('utf8', 0, size);
}

/** In the child: one parse of the page with the given build, measured. */
async function child(dir: string, sliceMs: number): Promise<Outcome> {
  const { parseExposition } = (await import(pathToFileURL(join(dir, 'parse.js')).href)) as ParseModule;
  const { SeriesSet } = (await import(pathToFileURL(join(dir, 'series.js')).href)) as SeriesModule;
  const body = page(8 * 1024 * 1024);
  await new Promise((r) => setTimeout(r, 200));
  let maxStall = 0;
  let ownStall = 0;
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  const timer = setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    maxStall = Math.max(maxStall, now - last - 1);
    ownStall = Math.max(ownStall, (cpu.user + cpu.system) / 1000 - 1);
    last = now;
    lastCpu = process.cpuUsage();
  }, 1);
  await new Promise((r) => setTimeout(r, 20));
  maxStall = ownStall = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const set = new SeriesSet({ maxSeries: 500, maxBytes: 65_536 });
  await parseExposition(body, (n, l, v) => set.add(n, l, v), { sliceMs });
  const r0 = performance.now();
  const kept = Object.keys(set.result()).length;
  const end = performance.now();
  const cpu = process.cpuUsage(cpu0);
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(timer);
  return {
    ms: Math.round(end - start),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    maxStallMs: Math.round(maxStall),
    ownStallMs: Math.round(Math.max(0, ownStall)),
    resultMs: Math.round((end - r0) * 10) / 10,
    kept,
    dropped: set.drops.cap,
  };
}

async function main(): Promise<void> {
  const runs = Number(arg('runs', '3'));
  const before = process.argv.includes('--before') ? resolve(arg('before', '')) : undefined;
  const out = arg('out', 'bench/results/scrape-parse.json');
  const here = fileURLToPath(import.meta.url);
  const builds: [string, string][] = [
    ['this build', resolve(dirname(here), '../agent/sources/scrape')],
    ...(before ? [['before', before] as [string, string]] : []),
  ];
  const flags = unitFlags();
  const env = { ...process.env, ...unitEnv() };
  const results: Record<string, Record<string, Outcome[]>> = {};
  for (let run = 0; run < runs; run++) {
    for (const [label, dir] of run % 2 === 0 ? builds : [...builds].reverse()) {
      for (const [mode, slice] of [
        ['yielding every 5 ms', '5'],
        ['never yielding', 'Infinity'],
      ] as const) {
        const text = execFileSync(process.execPath, [...flags, here, '--child', dir, '--slice', slice], {
          env,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        const r = JSON.parse(text) as Outcome;
        ((results[label] ??= {})[mode] ??= []).push(r);
        console.log(
          `${label}, ${mode}: ${r.ms} ms (${r.cpuMs} ms CPU), longest stall ${r.maxStallMs} ms (own work ${r.ownStallMs} ms), result() ${r.resultMs} ms, kept ${r.kept}`,
        );
      }
    }
  }
  mkdirSync(dirname(out), { recursive: true });
  const report = {
    bench: 'scrape-parse',
    date: new Date().toISOString(),
    node: process.version,
    flags,
    machine: { cpus: cpus().length, loadavg: loadavg() },
    results,
  };
  writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
}

if (process.argv.includes('--child')) {
  child(arg('child', ''), Number(arg('slice', '5'))).then(
    (r) => process.stdout.write(JSON.stringify(r)),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
} else {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
