/**
 * What command checks cost the agent: two agents side by side against one controller, one with
 * no checks and one with N checks (real Debian Monitoring Plugins: check_load, check_disk,
 * check_procs, check_tcp against the controller's port, check_dummy) at one interval.
 *
 * For each agent, every second: VmRSS from /proc/<pid>/status. CPU over the measured window
 * (after a warm-up) from /proc/<pid>/stat: the agent's own utime+stime, and apart from it the
 * plugins' (cutime+cstime, counted as the agent reaps them), as a percentage of one core.
 *
 *   npm run build && node dist/bench/checks-footprint.js [--seconds 120] [--warmup 15] [--checks 20] [--interval 30s] [--out FILE]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { Fleet } from '../test/helpers/fleet.js';
import { stopAll, waitFor, type Proc } from '../test/helpers/procs.js';

const PLUGINS = '/usr/lib/nagios/plugins';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TICK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
/** [own utime+stime, reaped children's cutime+cstime] in ticks. */
function cpuTicks(pid: number): [number, number] {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return [Number(rest[11]) + Number(rest[12]), Number(rest[13]) + Number(rest[14])];
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const r2 = (x: number) => Math.round(x * 100) / 100;

/** N checks cycling through five real plugins (each name unique). */
function checks(n: number, interval: string, controllerPort: number): { name: string; command: string[]; interval: string; timeout: string }[] {
  const kinds = [
    ['check_load', '-w', '1000,1000,1000', '-c', '2000,2000,2000'],
    ['check_disk', '-w', '5%', '-c', '2%', '-p', '/'],
    ['check_procs', '-w', '1:', '-c', '1:', '-C', 'node'],
    ['check_tcp', '-H', '127.0.0.1', '-p', String(controllerPort)],
    ['check_dummy', '0', 'all good'],
  ];
  return Array.from({ length: n }, (_, i) => {
    const [plugin, ...rest] = kinds[i % kinds.length];
    return { name: `${plugin}-${i}`, command: [`${PLUGINS}/${plugin}`, ...rest], interval, timeout: '10s' };
  });
}

async function main(): Promise<void> {
  const seconds = Number(arg('seconds', '120'));
  const warmup = Number(arg('warmup', '15'));
  const n = Number(arg('checks', '20'));
  const interval = arg('interval', '30s');
  const out = resolve(arg('out', 'bench/results/checks-footprint.json'));
  for (const p of ['check_load', 'check_disk', 'check_procs', 'check_tcp', 'check_dummy'])
    if (!existsSync(`${PLUGINS}/${p}`)) throw new Error(`${PLUGINS}/${p} is missing: apt-get install monitoring-plugins-basic monitoring-plugins-standard`);

  const fleet = new Fleet();
  const agents: { name: string; proc: Proc; rss: number[]; start?: [number, number]; end?: [number, number] }[] = [];
  try {
    await fleet.startController();
    // Both log at the test helper's level (debug); the check source logs only state changes.
    const common = { interval: '10s' };
    agents.push({ name: 'no checks', proc: fleet.startAgent('plain', common), rss: [] });
    agents.push({ name: `${n} checks at ${interval}`, proc: fleet.startAgent('checks', { ...common, checks: checks(n, interval, fleet.port) }), rss: [] });
    await waitFor(
      'both agents connected',
      async () => (await fleet.api<{ id: string; connected: boolean }[]>('/api/v1/hosts')).filter((h) => h.connected).length === 2,
      30_000,
    );
    await sleep(warmup * 1000);
    for (const a of agents) a.start = cpuTicks(a.proc.child.pid!);
    for (let s = 0; s < seconds; s++) {
      await sleep(1000);
      for (const a of agents) a.rss.push(rssMiB(a.proc.child.pid!));
    }
    for (const a of agents) a.end = cpuTicks(a.proc.child.pid!);
  } finally {
    await stopAll();
    await fleet.cleanup();
  }

  const results = agents.map((a) => ({
    agent: a.name,
    rssMedianMiB: r2(median(a.rss)),
    rssMaxMiB: r2(Math.max(...a.rss)),
    agentCpuPercent: r2(((a.end![0] - a.start![0]) / TICK / seconds) * 100),
    pluginsCpuPercent: r2(((a.end![1] - a.start![1]) / TICK / seconds) * 100),
  }));
  const report = {
    when: new Date().toISOString(),
    seconds,
    warmup,
    checks: n,
    interval,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg().map(r2) },
    results,
    extra: {
      rssMedianMiB: r2(results[1].rssMedianMiB - results[0].rssMedianMiB),
      agentCpuPercent: r2(results[1].agentCpuPercent - results[0].agentCpuPercent),
    },
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify(report, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
