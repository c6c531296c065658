/**
 * Agents and samples per second carried by one controller on lowdb, next to two controllers on
 * one PostgreSQL (agents split between them), in the same run on the same machine.
 *
 *   npm run build && node dist/bench/cluster-throughput.js [--agents 500,2000] [--seconds 20] [--interval 1000]
 *
 * Method: real `laas controller` child processes; lean protocol clients (test/helpers/sim-agent,
 * a real WebSocket each, the real hello and samples) in this process, each sending one sample per
 * --interval with phases spread. After all are connected and a 5 s warm-up, it reads every
 * controller's `laas_samples_received_total` and CPU time (/proc/<pid>/stat) over --seconds, and
 * the connect time of the whole fleet. PostgreSQL: LAAS_TEST_PG_URL, or a throwaway cluster
 * (test/helpers/postgres.ts). Results go to bench/results/cluster-throughput.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Fleet, AGENT_TOKEN } from '../test/helpers/fleet.js';
import { CLUSTER_SECRET, startPostgres } from '../test/helpers/postgres.js';
import { stopAll } from '../test/helpers/procs.js';
import { SimAgent } from '../test/helpers/sim-agent.js';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const AGENTS = arg('agents', '500,2000').split(',').map(Number);
const SECONDS = Number(arg('seconds', '20'));
const INTERVAL = Number(arg('interval', '1000'));
const OUT = 'bench/results/cluster-throughput.json';

interface Row {
  scenario: string;
  agents: number;
  connectSeconds: number;
  offeredPerSecond: number;
  processedPerSecond: number;
  cpuPercent: number[];
  cpuMsPer1000Samples: number;
}

async function samplesReceived(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith('laas_samples_received_total')) n += Number(line.split(' ').pop());
  return n;
}

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, in 10 ms ticks
}

async function run(scenario: string, fleets: Fleet[], agents: number): Promise<Row> {
  const sims: SimAgent[] = [];
  const t0 = performance.now();
  // Connect in batches so the connect storm is bounded.
  for (let i = 0; i < agents; i += 100) {
    const batch: Promise<void>[] = [];
    for (let j = i; j < Math.min(agents, i + 100); j++) {
      const fleet = fleets[j % fleets.length];
      const s = new SimAgent(fleet.url, AGENT_TOKEN, `${scenario}-${agents}-${j}`, { role: 'web' }, INTERVAL);
      s.services = { svc: { up: true, since: Date.now() } };
      sims.push(s);
      batch.push(s.connect());
    }
    await Promise.all(batch);
  }
  const connectSeconds = (performance.now() - t0) / 1000;
  const timers = sims.map((s, k) => {
    let t: NodeJS.Timeout | undefined;
    const first = setTimeout(
      () => {
        s.sample();
        t = setInterval(() => s.sample(), INTERVAL);
      },
      (k * INTERVAL) / sims.length,
    );
    return () => {
      clearTimeout(first);
      clearInterval(t);
    };
  });
  await new Promise((r) => setTimeout(r, 5000));
  const before = await Promise.all(fleets.map((f) => samplesReceived(f.url)));
  const cpuBefore = fleets.map((f) => cpuMs(f.controller!.child.pid!));
  const start = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const elapsed = (performance.now() - start) / 1000;
  const after = await Promise.all(fleets.map((f) => samplesReceived(f.url)));
  const cpuAfter = fleets.map((f) => cpuMs(f.controller!.child.pid!));
  for (const stop of timers) stop();
  for (const s of sims) s.stop();
  const processed = after.reduce((n, v, i) => n + v - before[i], 0);
  const cpu = cpuAfter.map((v, i) => v - cpuBefore[i]);
  await new Promise((r) => setTimeout(r, 2000)); // let the links close
  return {
    scenario,
    agents,
    connectSeconds: round(connectSeconds),
    offeredPerSecond: round((agents * 1000) / INTERVAL),
    processedPerSecond: round(processed / elapsed),
    cpuPercent: cpu.map((c) => round(c / 10 / elapsed)),
    cpuMsPer1000Samples: round(cpu.reduce((a, b) => a + b, 0) / (processed / 1000)),
  };
}

const round = (n: number) => Math.round(n * 10) / 10;

async function main(): Promise<void> {
  const rows: Row[] = [];
  const pg = await startPostgres();
  const fleets: Fleet[] = [];
  try {
    for (const agents of AGENTS) {
      // Each scenario on fresh controllers, alternating, so both see the same machine.
      const single = new Fleet();
      fleets.push(single);
      await single.startController({ hostDownAfter: '60s' });
      rows.push(await run('lowdb-1', [single], agents));
      await single.controller!.stop();

      const url = await pg.createDatabase();
      const pair = [new Fleet(), new Fleet()];
      fleets.push(...pair);
      for (const [i, f] of pair.entries())
        await f.startController({ hostDownAfter: '60s', store: { type: 'postgres', url }, cluster: { id: `bench-${i}`, secret: CLUSTER_SECRET } });
      rows.push(await run('postgres-2', pair, agents));
      for (const f of pair) await f.controller!.stop();
      console.log(JSON.stringify(rows.slice(-2)));
    }
  } finally {
    await stopAll();
    for (const f of fleets) await f.cleanup();
    await pg.stop();
  }
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, JSON.stringify({ at: new Date().toISOString(), intervalMs: INTERVAL, seconds: SECONDS, rows }, null, 2));
  console.log('| scenario | agents | connect all | offered samples/s | processed samples/s | controller CPU % | CPU ms per 1000 samples |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.scenario} | ${r.agents} | ${r.connectSeconds} s | ${r.offeredPerSecond} | ${r.processedPerSecond} | ${r.cpuPercent.join(' + ')} | ${r.cpuMsPer1000Samples} |`,
    );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
