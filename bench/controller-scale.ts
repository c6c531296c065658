/**
 * Controller scale: one real controller process (lowdb store) with 20 rules, N simulated agents
 * (bench/load: real WebSockets, the real protocol, spread over worker processes) each sending a
 * sample every 10 s, service faults injected during the load. Per step of N it measures:
 * - sample → decision p50/p99/max, from the controller's laas_controller_sample_decision_seconds
 *   histogram (sample ts → end of rule evaluation and alert/heal decisions), differenced over the window;
 * - heal dispatch: faulty sample sent → run frame arriving at the client (load generator clock);
 * - /metrics scrape duration and size, and the controller's event-loop delay: prom-client's
 *   laas_controller_nodejs_eventloop_lag_max_seconds (perf_hooks.monitorEventLoopDelay, 10 ms
 *   resolution, reset at each scrape, so each scrape reports the worst stall since the last one,
 *   the previous scrape's own generation included);
 * - controller RSS (max over the window) and CPU (% of one core over the window), from /proc.
 * The break point is the first N whose sample → decision p99 passes 1 s.
 *
 *   npm run build && node dist/bench/controller-scale.js [--steps 1000,5000,10000,20000] [--seconds 60]
 *     [--faults-per-second 2] [--interval 10s] [--workers N] [--profile DIR] [--out bench/results/controller-scale.json]
 *     [--library]   (the shipped rules/ too, every window they keep full from the start: bench/load/full-windows.ts)
 * CI runs a short mode (200 agents, 2 workers) from test/e2e/controller-scale-short.test.ts.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { freePort, waitFor } from '../test/helpers/procs.js';
import { copyLibrary, writeFullWindows } from './load/full-windows.js';
import { startLoad, type LoadStats } from './load/index.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
};

const TOKEN = 'scale-bench-agent-token-0123456789';
const CLI = resolve('dist/cli/main.js');

/** 20 rules a real fleet might run: thresholds on every fact, label selectors, service heals. */
export function scaleRules(): Record<string, Record<string, unknown>> {
  const gt = (fact: string, path: string | undefined, value: number) => ({ fact, ...(path ? { path } : {}), operator: 'greaterThan', value });
  const lt = (fact: string, path: string | undefined, value: number) => ({ fact, ...(path ? { path } : {}), operator: 'lessThan', value });
  const down = (svc: string) => ({ fact: 'service', path: `$.${svc}.up`, operator: 'equal', value: false });
  // Injected faults happen often by design: every one must be healed, none damped by a brake.
  const healBrakes = { maxPerHour: 1_000_000, maxConcurrent: '100%', breaker: { failures: 1_000_000 } };
  return {
    'node/cpu-high': { when: { all: [gt('cpu', '$.usage', 90)] }, for: '5m', severity: 'warning' },
    'node/load-high': { when: { all: [gt('cpu', '$.load5', 16)] }, for: '10m' },
    'node/load15-high': { when: { all: [gt('cpu', '$.load15', 24)] }, for: '15m' },
    'node/memory-high': { when: { all: [gt('memory', '$.usedPercent', 92)] }, for: '5m', severity: 'critical' },
    'node/memory-available-low': { when: { all: [lt('memory', '$.availableBytes', 100e6)] }, severity: 'critical' },
    'node/disk-root-full': { when: { all: [gt('disk', "$['/'].usedPercent", 90)] }, severity: 'critical' },
    'node/disk-root-free-low': { when: { all: [lt('disk', "$['/'].freeBytes", 1e9)] }, severity: 'critical' },
    'node/cpu-and-memory': { when: { all: [gt('cpu', '$.usage', 80), gt('memory', '$.usedPercent', 85)] }, for: '2m' },
    'node/dc-b-hot': { hosts: { dc: 'b' }, when: { all: [gt('cpu', '$.usage', 95)] }, for: '1m' },
    'fleet/svc-down': {
      when: { all: [down('svc')] },
      severity: 'critical',
      flap: { changes: 1_000_000 },
      heal: { action: 'service.restart', params: { service: 'svc' }, ...healBrakes },
    },
    'web/net-rx-high': { hosts: { role: 'web' }, when: { all: [gt('net', '$.eth0.rxBytesPerSec', 1e9)] } },
    'web/cpu-prod': { hosts: { role: 'web', env: 'prod' }, when: { all: [gt('cpu', '$.usage', 85), gt('cpu', '$.load1', 8)] }, for: '3m' },
    'db/disk-var-full': { hosts: { role: 'db' }, when: { all: [gt('disk', "$['/var'].usedPercent", 85)] }, severity: 'critical' },
    'db/disk-var-free-low': { hosts: { role: 'db' }, when: { all: [lt('disk', "$['/var'].freeBytes", 5e9)] } },
    'db/memory-high': { hosts: { role: 'db' }, when: { all: [gt('memory', '$.usedPercent', 95)] }, severity: 'critical' },
    'cache/net-tx-high': { hosts: { role: 'cache' }, when: { all: [gt('net', '$.eth0.txBytesPerSec', 5e8)] } },
    'cache/memory-high': { hosts: { role: 'cache' }, when: { all: [gt('memory', '$.usedPercent', 97)] } },
    'worker/cpu-sustained': { hosts: { role: 'worker' }, when: { all: [gt('cpu', '$.usage', 98)] }, for: '30m' },
    'staging/disk-root': { hosts: { env: 'staging' }, when: { all: [gt('disk', "$['/'].usedPercent", 95)] }, severity: 'info' },
    'web/any-hot': { hosts: { role: 'web' }, when: { any: [gt('cpu', '$.usage', 99), gt('memory', '$.usedPercent', 99)] } },
  };
}

/** Quantile from cumulative histogram buckets, interpolated within a bucket (like histogram_quantile). */
export function quantile(buckets: { le: number; count: number }[], q: number): number | null {
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe;
      return prevLe + (b.le - prevLe) * ((rank - prevCount) / Math.max(1, b.count - prevCount));
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

function histogram(text: string, name: string): { le: number; count: number }[] {
  const out: { le: number; count: number }[] = [];
  const re = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)`, 'gm');
  for (const m of text.matchAll(re)) out.push({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), count: Number(m[2]) });
  return out;
}

function scalar(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.eE+-]+)`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

function sumOf(text: string, name: string): number {
  let s = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.eE+-]+)`, 'gm'))) s += Number(m[1]);
  return s;
}

function pct(xs: number[], q: number): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

const r1 = (x: number | null) => (x === null || Number.isNaN(x) ? null : Math.round(x * 10) / 10);
const ms = (s: number | null) => (s === null ? null : r1(s * 1000));

function proc(pid: number): { rssMiB: number; cpuTicks: number } {
  try {
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return { rssMiB: rss, cpuTicks: Number(f[11]) + Number(f[12]) };
  } catch {
    return { rssMiB: 0, cpuTicks: 0 };
  }
}

interface Controller {
  child: ChildProcess;
  url: string;
  dir: string;
  stderr: () => string;
}

async function startController(opts: {
  profileDir?: string;
  nodeFlags?: string[];
  stdoutFile?: string;
  /** The shipped rule library too, its windows full from the start (agents `ids`, a sample every intervalMs). */
  library?: { ids: string[]; intervalMs: number };
}): Promise<Controller> {
  const dir = mkdtempSync(join(tmpdir(), 'laas-scale-'));
  for (const [id, rule] of Object.entries(scaleRules())) {
    const [ns, name] = id.split('/');
    mkdirSync(join(dir, 'rules', ns), { recursive: true });
    writeFileSync(join(dir, 'rules', ns, `${name}.json`), JSON.stringify({ name, ...rule }, null, 2));
  }
  if (opts.library) {
    copyLibrary(join(dir, 'rules'));
    writeFullWindows(join(dir, 'rules'), join(dir, 'data'), opts.library.ids, opts.library.intervalMs, Date.now());
  }
  const port = await freePort();
  writeFileSync(
    join(dir, 'controller.json'),
    JSON.stringify({
      listen: `127.0.0.1:${port}`,
      dataDir: './data',
      rulesDir: './rules',
      agentTokens: [{ token: TOKEN, maxHosts: 1_000_000 }],
      hostDownAfter: '60s',
      heal: { maxConcurrent: '100%' },
    }),
  );
  const node = [
    process.execPath,
    ...(opts.profileDir ? ['--cpu-prof', '--cpu-prof-dir', opts.profileDir] : []),
    ...(opts.nodeFlags ?? []),
    CLI,
    'controller',
    '--config',
    join(dir, 'controller.json'),
  ];
  // 20,000 links need more descriptors than the usual soft limit; root may raise it for this process.
  const child = spawn('/bin/sh', ['-c', 'ulimit -n 262144 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"', 'sh', ...node], {
    env: { ...process.env, LAAS_LOG_LEVEL: process.env.LAAS_LOG_LEVEL ?? 'warn' },
    stdio: ['ignore', opts.stdoutFile ? 'pipe' : 'ignore', 'pipe'],
  });
  // e.g. --trace-gc's lines, which V8 writes to stdout.
  if (opts.stdoutFile) child.stdout!.pipe(createWriteStream(opts.stdoutFile));
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-20_000);
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    'controller /healthz',
    async () => {
      if (child.exitCode !== null) throw new Error(`controller exited ${child.exitCode}: ${err}`);
      return (await fetch(`${url}/healthz`)).ok;
    },
    30_000,
    100,
  );
  return { child, url, dir, stderr: () => err };
}

async function stopController(c: Controller): Promise<void> {
  if (c.child.exitCode === null && c.child.signalCode === null) {
    const exited = new Promise((r) => c.child.once('exit', r));
    c.child.kill('SIGTERM');
    const t = setTimeout(() => c.child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(t);
  }
  rmSync(c.dir, { recursive: true, force: true });
}

async function scrape(url: string): Promise<{ text: string; ms: number }> {
  const t0 = performance.now();
  const text = await (await fetch(`${url}/metrics`)).text();
  return { text, ms: performance.now() - t0 };
}

export interface StepResult {
  agents: number;
  intervalMs: number;
  /** Agents at one sample per 10 s that this load equals: agents × 10 s / interval. */
  agentEquivalent: number;
  workers: number;
  sourceAddresses: number;
  connected: number;
  connectSeconds: number;
  windowSeconds: number;
  samplesPerSecond: number;
  decision: { count: number; p50Ms: number | null; p99Ms: number | null; maxBucketMs: number | null };
  dispatch: { faults: number; runs: number; count: number; minMs: number | null; p50Ms: number | null; p99Ms: number | null; maxMs: number | null };
  scrape: { count: number; series: number; bytes: number; minMs: number | null; medianMs: number | null; p99Ms: number | null; maxMs: number | null };
  eventLoopLagMaxMs: number | null;
  eventLoopLagP99Ms: number | null;
  /** The longest the controller held its event loop while making one /metrics answer (its own measure, laas_controller_metrics_scrape_block_seconds). */
  scrapeBlockMaxMs: number | null;
  /** The same measure in an idle process during the window: the shared machine's share of the lag. */
  noiseLagMaxMs: number | null;
  controller: { rssMiBMax: number; cpuPercent: number };
  /** Rules loaded, and what the windows held at the end (laas_rules_window_series / _bytes). */
  rules: { loaded: number; windowSeries: number; windowBytes: number; alertsActive: Record<string, number>; errors: string[] };
  load: Pick<LoadStats, 'drops' | 'connectFailures' | 'errors' | 'samplesSent'>;
}

export async function runStep(
  n: number,
  o: {
    seconds: number;
    intervalMs: number;
    faultsPerSecond: number;
    workers?: number;
    profileDir?: string;
    nodeFlags?: string[];
    stdoutFile?: string;
    connectTimeoutMs?: number;
    /** The shipped rule library beside the 20 rules, windows full from the start. */
    library?: boolean;
    log?: (s: string) => void;
  },
): Promise<StepResult> {
  const log = o.log ?? (() => {});
  const controller = await startController({
    profileDir: o.profileDir,
    nodeFlags: o.nodeFlags,
    stdoutFile: o.stdoutFile,
    ...(o.library ? { library: { ids: Array.from({ length: n }, (_, i) => `load-${i}`), intervalMs: o.intervalMs } } : {}),
  });
  const pid = controller.child.pid!;
  let load: Awaited<ReturnType<typeof startLoad>> | undefined;
  const noise = fork(new URL('./load/noise.js', import.meta.url), [], { execArgv: [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const noiseRead = () =>
    new Promise<{ maxMs: number; p99Ms: number } | null>((res) => {
      if (!noise.connected) return res(null);
      const t = setTimeout(() => res(null), 2000);
      noise.once('message', (m: { maxMs: number; p99Ms: number }) => {
        clearTimeout(t);
        res(m);
      });
      noise.send('read');
    });
  try {
    const t0 = Date.now();
    load = await startLoad({ urls: [controller.url], token: TOKEN, agents: n, workers: o.workers, intervalMs: o.intervalMs, maxSeconds: o.seconds + 600 });
    await load.waitConnected(n, o.connectTimeoutMs ?? Math.max(60_000, n * 30), (s) =>
      log(`  … ${s.connected} connected after ${Math.round((Date.now() - t0) / 1000)} s (errors: ${JSON.stringify(s.errors)})`),
    );
    const connectSeconds = (Date.now() - t0) / 1000;
    log(`  ${n} connected in ${connectSeconds.toFixed(1)} s; warming up one interval`);
    // One interval for the startup herd to settle, so the window sees the steady state.
    await new Promise((r) => setTimeout(r, o.intervalMs));
    const before = await scrape(controller.url);
    const hist0 = histogram(before.text, 'laas_controller_sample_decision_seconds');
    const samples0 = sumOf(before.text, 'laas_samples_received_total');
    const loadBefore = await load.stats();
    const p0 = proc(pid);
    await noiseRead();
    const noiseMax: number[] = [];
    const w0 = Date.now();
    load.setFaultsPerSecond(o.faultsPerSecond);
    const scrapes: { ms: number; bytes: number; series: number }[] = [];
    const lagMax: number[] = [];
    const lagP99: number[] = [];
    const scrapeBlock: number[] = [];
    let rssMax = p0.rssMiB;
    let last = before.text;
    while (Date.now() - w0 < o.seconds * 1000) {
      await new Promise((r) => setTimeout(r, 5000));
      const s = await scrape(controller.url);
      last = s.text;
      scrapes.push({ ms: s.ms, bytes: Buffer.byteLength(s.text), series: s.text.split('\n').filter((l) => l && !l.startsWith('#')).length });
      lagMax.push(scalar(s.text, 'laas_controller_nodejs_eventloop_lag_max_seconds'));
      lagP99.push(scalar(s.text, 'laas_controller_nodejs_eventloop_lag_p99_seconds'));
      scrapeBlock.push(scalar(s.text, 'laas_controller_metrics_scrape_block_seconds'));
      rssMax = Math.max(rssMax, proc(pid).rssMiB);
      const nz = await noiseRead();
      if (nz) noiseMax.push(nz.maxMs);
    }
    load.setFaultsPerSecond(0);
    const p1 = proc(pid);
    const windowSeconds = (Date.now() - w0) / 1000;
    // Let the last faults' runs arrive before counting them.
    await new Promise((r) => setTimeout(r, 2000));
    const after = await scrape(controller.url);
    // The last scrape's lag covers the window's final scrape generation too.
    lagMax.push(scalar(after.text, 'laas_controller_nodejs_eventloop_lag_max_seconds'));
    scrapeBlock.push(scalar(after.text, 'laas_controller_metrics_scrape_block_seconds'));
    const hist1 = histogram(after.text, 'laas_controller_sample_decision_seconds');
    const diff = hist1.map((b, i) => ({ le: b.le, count: b.count - (hist0[i]?.count ?? 0) }));
    const count = diff.at(-1)?.count ?? 0;
    let maxBucket: number | null = null;
    for (let i = 0; i < diff.length; i++) if (diff[i].count > (i ? diff[i - 1].count : 0)) maxBucket = diff[i].le;
    const samplesPerSecond = (sumOf(last, 'laas_samples_received_total') - samples0) / windowSeconds;
    const ls = await load.stats();
    const dispatchMs = ls.dispatchMs.slice(loadBefore.dispatchMs.length);
    const scrapeMs = scrapes.map((s) => s.ms);
    const result: StepResult = {
      agents: n,
      intervalMs: o.intervalMs,
      agentEquivalent: Math.round(n * (10_000 / o.intervalMs)),
      workers: load.workers,
      sourceAddresses: load.sourceAddresses.length,
      connected: ls.connected,
      connectSeconds: r1(connectSeconds)!,
      windowSeconds: r1(windowSeconds)!,
      samplesPerSecond: r1(samplesPerSecond)!,
      decision: {
        count,
        p50Ms: ms(quantile(diff, 0.5)),
        p99Ms: ms(quantile(diff, 0.99)),
        maxBucketMs: maxBucket === null ? null : maxBucket === Infinity ? Infinity : maxBucket * 1000,
      },
      dispatch: {
        faults: ls.faultsInjected - loadBefore.faultsInjected,
        runs: ls.runsReceived - loadBefore.runsReceived,
        count: dispatchMs.length,
        minMs: r1(dispatchMs.length ? Math.min(...dispatchMs) : null),
        p50Ms: pct(dispatchMs, 0.5),
        p99Ms: pct(dispatchMs, 0.99),
        maxMs: r1(dispatchMs.length ? Math.max(...dispatchMs) : null),
      },
      scrape: {
        count: scrapes.length,
        series: scrapes.at(-1)?.series ?? 0,
        bytes: scrapes.at(-1)?.bytes ?? 0,
        minMs: r1(scrapeMs.length ? Math.min(...scrapeMs) : null),
        medianMs: r1(pct(scrapeMs, 0.5)),
        p99Ms: r1(pct(scrapeMs, 0.99)),
        maxMs: r1(scrapeMs.length ? Math.max(...scrapeMs) : null),
      },
      eventLoopLagMaxMs: ms(Math.max(...lagMax.filter((x) => !Number.isNaN(x)))),
      eventLoopLagP99Ms: ms(Math.max(...lagP99.filter((x) => !Number.isNaN(x)))),
      scrapeBlockMaxMs: ms(Math.max(...scrapeBlock.filter((x) => !Number.isNaN(x)))),
      noiseLagMaxMs: noiseMax.length ? r1(Math.max(...noiseMax)) : null,
      controller: { rssMiBMax: r1(rssMax)!, cpuPercent: r1(((p1.cpuTicks - p0.cpuTicks) / 100 / windowSeconds) * 100)! },
      rules: {
        loaded: scalar(after.text, 'laas_rules_loaded'),
        windowSeries: scalar(after.text, 'laas_rules_window_series'),
        windowBytes: scalar(after.text, 'laas_rules_window_bytes'),
        // The controller's own errors in the window (its log is at warn): the first few, whole.
        errors: controller
          .stderr()
          .split('\n')
          .filter((l) => /"level":(50|60)/.test(l))
          .slice(0, 3),
        alertsActive: Object.fromEntries(
          [...after.text.matchAll(/^laas_alerts_active\{rule="([^"]+)",severity="[^"]*",state="([^"]+)"\} (\d+)/gm)]
            .filter((m) => Number(m[3]) > 0)
            .map((m) => [`${m[1]} ${m[2]}`, Number(m[3])]),
        ),
      },
      load: { drops: ls.drops, connectFailures: ls.connectFailures, errors: ls.errors, samplesSent: ls.samplesSent },
    };
    return result;
  } finally {
    noise.kill();
    await load?.stop();
    await stopController(controller);
  }
}

export function summaryLine(s: StepResult): string {
  return (
    `${s.agents} agents every ${s.intervalMs / 1000}s (= ${s.agentEquivalent} at 10 s; ${s.connected} connected in ${s.connectSeconds}s): ` +
    `${s.samplesPerSecond} samples/s, sample→decision p50 ${s.decision.p50Ms} ms p99 ${s.decision.p99Ms} ms max≤${s.decision.maxBucketMs} ms; ` +
    `dispatch p50 ${s.dispatch.p50Ms} ms p99 ${s.dispatch.p99Ms} ms max ${s.dispatch.maxMs} ms (${s.dispatch.count}/${s.dispatch.faults} faults); ` +
    `/metrics ${s.scrape.series} series ${Math.round(s.scrape.bytes / 1024)} KB median ${s.scrape.medianMs} ms max ${s.scrape.maxMs} ms, ` +
    `longest hold of the loop ${s.scrapeBlockMaxMs} ms; event-loop lag max ${s.eventLoopLagMaxMs} ms (idle process on the same machine: ${s.noiseLagMaxMs} ms); ` +
    `RSS ${s.controller.rssMiBMax} MiB, CPU ${s.controller.cpuPercent}%`
  );
}

async function main(): Promise<void> {
  // A step is AGENTS or AGENTS@INTERVAL_MS: past the descriptor limit, load grows by sampling faster.
  const steps = arg('steps', '1000,5000,10000,19950')
    .split(',')
    .map((st) => {
      const [a, i] = st.split('@').map(Number);
      return { agents: a, intervalMs: i || undefined };
    });
  const seconds = Number(arg('seconds', '60'));
  const intervalMs = Number(arg('interval-ms', '10000'));
  const faultsPerSecond = Number(arg('faults-per-second', '2'));
  const workers = process.argv.includes('--workers') ? Number(arg('workers', '2')) : undefined;
  const profileDir = process.argv.includes('--profile') ? resolve(arg('profile', 'reports/profiles')) : undefined;
  const out = arg('out', 'bench/results/controller-scale.json');
  // Extra Node flags for the controller (e.g. "--trace-gc"); its stdout then goes to <out>.<step>.stdout.
  const nodeFlags = process.argv.includes('--node-flags') ? arg('node-flags', '').split(/\s+/).filter(Boolean) : undefined;
  const label = arg('label', 'current');
  // The shipped rule library beside the 20 rules, its windows full from the start (issue 19).
  const library = process.argv.includes('--library');
  const results: StepResult[] = [];
  let breakPoint: number | null = null;
  for (const step of steps) {
    const n = step.agents;
    const every = step.intervalMs ?? intervalMs;
    console.log(`step ${n} agents, a sample each every ${every} ms…`);
    const s = await runStep(n, {
      seconds,
      intervalMs: every,
      faultsPerSecond,
      workers,
      profileDir: profileDir && join(profileDir, `${n}@${every}`),
      nodeFlags,
      stdoutFile: nodeFlags && `${out}.${n}@${every}.stdout`,
      library,
      log: (l) => console.log(l),
    });
    results.push(s);
    console.log(summaryLine(s));
    if (s.decision.p99Ms !== null && s.decision.p99Ms > 1000) {
      breakPoint = n * (10_000 / every);
      break;
    }
  }
  // breakPoint is in agents at one sample per 10 s: AGENTS × (10 s / interval) for the faster steps.
  const doc = {
    bench: 'controller-scale',
    label,
    date: new Date().toISOString(),
    node: process.version,
    seconds,
    intervalMs,
    faultsPerSecond,
    library,
    breakPoint,
    steps: results,
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(doc, null, 2) + '\n');
  console.log(`break point (p99 sample→decision > 1 s), in agents at 10 s: ${breakPoint ?? `not reached up to ${results.at(-1)?.agentEquivalent}`}`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
