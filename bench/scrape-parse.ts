/**
 * What parsing a big exporter page costs the agent: an 8 MiB page (the default maxBodyBytes) of
 * ~95,000 series parsed into one source's capped series, timing the whole parse and the longest
 * event-loop stall (a 1 ms timer's worst lateness, measured beside it), with the parser yielding
 * every 5 ms (as the agent runs it) and never yielding (for comparison).
 *
 *   npm run build && node dist/bench/scrape-parse.js
 */
import { parseExposition } from '../agent/sources/scrape/parse.js';
import { SeriesSet } from '../agent/sources/scrape/series.js';

function page(bytes: number): string {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line = `http_requests_total{code="${200 + (i % 5)}",handler="/api/v1/items/${i}",method="get"} ${i * 3}\n`;
    if (size + line.length > bytes) break;
    lines.push(line);
    size += line.length;
  }
  return lines.join('');
}

async function run(body: string, sliceMs: number): Promise<{ ms: number; maxStallMs: number; kept: number; dropped: number }> {
  let maxStall = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    maxStall = Math.max(maxStall, now - last - 1);
    last = now;
  }, 1);
  await new Promise((r) => setTimeout(r, 20));
  last = performance.now();
  const start = performance.now();
  const set = new SeriesSet({ maxSeries: 500, maxBytes: 65_536 });
  await parseExposition(body, (n, l, v) => set.add(n, l, v), { sliceMs });
  const kept = Object.keys(set.result()).length;
  const ms = performance.now() - start;
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(timer);
  return { ms: Math.round(ms), maxStallMs: Math.round(maxStall), kept, dropped: set.drops.cap };
}

const body = page(8 * 1024 * 1024);
const lines = body.split('\n').length - 1;
for (const [label, slice] of [
  ['yielding every 5 ms', 5],
  ['never yielding', Infinity],
] as const) {
  const r = await run(body, slice);
  console.log(
    `${label}: ${lines} lines (${(body.length / 2 ** 20).toFixed(1)} MiB) in ${r.ms} ms, longest stall ${r.maxStallMs} ms, kept ${r.kept}, dropped ${r.dropped}`,
  );
}
