/**
 * Host collectors' cost: the four of before issue 18 (cpu, memory, disk, net) against all seven,
 * on this host's /proc, 20 collections each: wall time, CPU per collection (process.cpuUsage,
 * including the 1 ms stall-watch timer) and the longest event-loop stall (agent/stalls.ts). With
 * --fake N it also scans a fake /proc of N processes (default 5000) to show the chunked scan.
 *
 *   npm run build && node dist/bench/host-facts.js [--fake 5000]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COLLECTORS, collectFacts, type Collector, type CollectorName } from '../agent/collectors/index.js';
import { ProcessTable } from '../agent/collectors/proc-table.js';
import { timeStalls } from '../agent/stalls.js';

const N = 20;
const i = process.argv.indexOf('--fake');
const fake = i > 0 ? Number(process.argv[i + 1] ?? 5000) : 5000;

async function measure(name: string, cs: Collector[]): Promise<void> {
  await collectFacts(cs);
  const cpu0 = process.cpuUsage();
  let worst = 0;
  let ms = 0;
  for (let k = 0; k < N; k++) {
    const r = await timeStalls(() => collectFacts(cs));
    worst = Math.max(worst, r.stallMs);
    ms += r.ms;
  }
  const c = process.cpuUsage(cpu0);
  console.log(
    `${name}: ${cs.length} collectors, ${(ms / N).toFixed(2)} ms wall, ${((c.user + c.system) / 1000 / N).toFixed(2)} ms cpu per collection, worst stall ${worst} ms`,
  );
}

const table = new ProcessTable('/proc');
await measure(
  'before',
  (['cpu', 'memory', 'disk', 'net'] as CollectorName[]).map((n) => COLLECTORS[n]() as Collector),
);
await measure(
  'after',
  (Object.keys(COLLECTORS) as CollectorName[]).map((n) => COLLECTORS[n]({ processTable: table }) as Collector),
);

const dir = mkdtempSync(join(tmpdir(), 'laas-bench-proc-'));
try {
  for (let pid = 1; pid <= fake; pid++) {
    mkdirSync(join(dir, String(pid)));
    writeFileSync(join(dir, String(pid), 'stat'), `${pid} (p${pid}) S 1 1 1 0 -1 4194304 0 0 0 0 ${pid} 0 0 0 20 0 1 0 100 1000 ${pid} 0 0\n`);
  }
  const fakeTable = new ProcessTable(dir);
  await measure(`top+system on ${fake} fake processes`, [
    COLLECTORS.system({ proc: dir, processTable: fakeTable }),
    COLLECTORS.top({ proc: dir, processTable: fakeTable }),
  ]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
