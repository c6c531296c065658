/**
 * What following log files costs the agent (issue 18 item 5): the log source (agent/sources/log)
 * in this process, on real files in a temp dir.
 *
 * 1. idle: 5 files followed (1 s polls), nothing written, for --idle seconds: CPU % of one core.
 * 2. steady: the same 5 files, --rate lines/s written in all (1 in 10 matching), for --steady
 *    seconds: CPU % of one core, and every match counted.
 * 3. throughput: one file given --mb MiB of ~100-byte lines, read by stepping polls by hand (no
 *    1 MiB-per-second budget): lines/s and MiB/s through split + RE2 match; beside it, the same
 *    lines matched alone by re2js and by V8's RegExp, and a backtracking pattern on both.
 * 4. long line: a 10 MB line with no newline: the live heap after a forced GC, before and after.
 *
 *   npm run build && node --expose-gc dist/bench/log-follow.js [--idle 20] [--steady 20]
 *     [--rate 1000] [--mb 64] [--out FILE]
 */
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { RE2JS } from 're2js';
import type { FileFollower } from '../agent/sources/log/file-follower.js';
import { LogSource } from '../agent/sources/log/index.js';
import { silentLogger } from '../protocol/index.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
};
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const MiB = 1024 * 1024;
const ctx = { log: silentLogger, env: process.env, changed: () => {} };
const PATTERN = 'ERROR|FATAL';

/** CPU time (user + system) this process spent while `run` ran, as % of one core. */
async function cpuPercent(run: () => Promise<void>): Promise<number> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await run();
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) / 1000 / (performance.now() - t0)) * 100;
}

const line = (i: number) => `2026-12-05T09:00:00.000Z app[4242]: ${i % 10 === 0 ? 'ERROR' : 'INFO '} request ${i} handled in ${i % 97} ms path=/api/v1/items\n`;

async function main(): Promise<void> {
  const idle = Number(arg('idle', '20'));
  const steady = Number(arg('steady', '20'));
  const rate = Number(arg('rate', '1000'));
  const mb = Number(arg('mb', '64'));
  const out = arg('out', 'bench/results/log-follow.json');
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc, so the heap is read after a collection');
  const dir = mkdtempSync(join(tmpdir(), 'laas-bench-log-'));
  const results: Record<string, unknown> = { node: process.version, when: new Date().toISOString() };
  try {
    // This process doing nothing, for comparison.
    results.idleBaselineCpuPercent = await cpuPercent(() => sleep(idle * 1000));
    // 1 and 2: five files, as the footprint target has.
    const files = Array.from({ length: 5 }, (_, i) => join(dir, `app-${i}.log`));
    for (const f of files) writeFileSync(f, '');
    const five = new LogSource(
      files.map((file, i) => ({ name: `app-${i}`, file, match: PATTERN, window: 300_000 })),
      ctx,
    );
    five.start();
    await sleep(1500);
    results.idleCpuPercent = await cpuPercent(() => sleep(idle * 1000));
    let written = 0;
    /** 10 writes a second, each a tenth of the second's lines spread over the files. */
    const write = async (to: string[]) => {
      const end = performance.now() + steady * 1000;
      while (performance.now() < end) {
        const batch = Math.round(rate / 10);
        for (let k = 0; k < batch; k++) appendFileSync(to[written % 5], line(written++));
        await sleep(100);
      }
      await sleep(1500);
    };
    results.steadyCpuPercent = await cpuPercent(() => write(files));
    const counted = Object.values(five.snapshot()).reduce((n, f) => n + f.total, 0);
    results.steady = { rate, seconds: steady, written, matchesWritten: Math.ceil(written / 10), matchesCounted: counted };
    await five.stop();
    // The writing is done in this process too: its own cost, with no source running, to subtract.
    const others = files.map((f) => `${f}.w`);
    const w = written;
    results.writerOnlyCpuPercent = await cpuPercent(() => write(others));
    written = w;

    // 3: throughput, polls stepped by hand.
    const big = join(dir, 'big.log');
    writeFileSync(big, '');
    const one = new LogSource([{ name: 'big', file: big, match: PATTERN, window: 300_000 }], ctx, { file: { maxReadBytes: 16 * MiB } });
    const follower = one.follower('big') as FileFollower;
    await follower.poll();
    const chunk: string[] = [];
    for (let i = 0; i < 10_000; i++) chunk.push(line(i));
    const block = chunk.join('');
    let lines = 0;
    let bytes = 0;
    while (bytes < mb * MiB) {
      appendFileSync(big, block);
      lines += 10_000;
      bytes += Buffer.byteLength(block);
    }
    const t0 = performance.now();
    for (let i = 0; i < 10_000 && one.snapshot().big.total < lines / 10; i++) await follower.poll();
    const s = (performance.now() - t0) / 1000;
    results.throughput = { lines, seconds: s, linesPerSec: lines / s, mibPerSec: bytes / MiB / s, counted: one.snapshot().big.total };
    await one.stop();
    const sample = chunk.map((l) => l.slice(0, -1));
    const re2 = RE2JS.compile(PATTERN);
    const v8 = new RegExp(PATTERN);
    const rateOf = (test: (l: string) => boolean) => {
      let n = 0;
      const t = performance.now();
      for (let r = 0; r < 50; r++) for (const l of sample) if (test(l)) n++;
      if (n !== 50 * (sample.length / 10)) throw new Error(`matched ${n}`);
      return (50 * sample.length) / ((performance.now() - t) / 1000);
    };
    rateOf((l) => re2.test(l));
    results.matchOnly = { re2jsLinesPerSec: rateOf((l) => re2.test(l)), regexpLinesPerSec: rateOf((l) => v8.test(l)) };
    // A pattern that backtracks: RE2 stays linear on a whole 8 KiB line; V8 doubles its work per character.
    const ms = (f: () => void) => {
      const t = performance.now();
      f();
      return performance.now() - t;
    };
    results.pathological = {
      pattern: '(a+)+b',
      re2jsOn8KiBMs: ms(() => RE2JS.compile('(a+)+b').test('a'.repeat(8192))),
      regexpOn22CharsMs: ms(() => /(a+)+b/.test('a'.repeat(22))),
      regexpOn24CharsMs: ms(() => /(a+)+b/.test('a'.repeat(24))),
    };

    // 4: a 10 MB line with no newline.
    const long = join(dir, 'long.log');
    writeFileSync(long, '');
    const l = new LogSource([{ name: 'long', file: long, match: PATTERN, window: 300_000 }], ctx, { file: { maxReadBytes: 16 * MiB } });
    await (l.follower('long') as FileFollower).poll();
    gc();
    const before = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    appendFileSync(long, Buffer.alloc(10 * MiB, 0x45));
    await (l.follower('long') as FileFollower).poll();
    gc();
    const after = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    results.longLine = { bytes: 10 * MiB, pendingBytes: (l.follower('long') as FileFollower).pendingBytes, liveGrowthKiB: (after - before) / 1024 };
    await l.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify(results, null, 2));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
}

await main();
