/**
 * Windowed rules against Prometheus 2.42 on the same data, in the same run (issue 19): the same
 * windowed expressions written as laas rules and as PromQL, judged every `--step` over the same
 * synthetic history of `--hosts` hosts, and compared on when each alert starts and ends.
 *
 * The history (seeded, so every run has the same): per host every 15 s, cpu usage (noise around
 * 20–50 % with bursts of 92–99 % lasting 2–40 minutes), the root filesystem's free bytes (a third
 * of the hosts fill at a steady rate and are cleaned up when nearly full) and a service's up
 * (a tenth of the hosts flap for a while). It is written as OpenMetrics and backfilled into a real
 * Prometheus with promtool, then:
 * - Prometheus: each PromQL expression as query_range at the step, which is what a rule group
 *   evaluating every step computes; an alert is active at each step the expression returns a
 *   series (`for: 0`);
 * - laas: the same rules through `laas rules backtest`'s code (controller/backtest/run.ts), which
 *   reads the raw series back at the same step and replays them through the controller's own
 *   core on a simulated clock — windows, verdicts, alerts, the store in memory.
 * Flap damping is off in these rules (`flap.changes` out of reach): by default laas holds an alert
 * whose condition changes too often firing until it calms, which Prometheus does not do, and
 * which would merge episodes that are being compared here.
 * Episodes are matched per rule and host: a start (and end) within one step of the other's is the
 * same. The first `over` of each rule is left out on both sides: laas judges a window only once it
 * has watched it whole ("not enough data" before), Prometheus judges whatever part it has.
 * Time: Prometheus's query time against laas's replay time (its Prometheus reads timed apart).
 *
 *   npm run build && node dist/bench/windows-vs-prometheus.js [--hosts 200] [--hours 6] [--step 15s] [--out FILE]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { backtest } from '../controller/backtest/run.js';
import { queryRange } from '../controller/history/prometheus.js';
import { loadRules } from '../controller/rules/load.js';
import { parseDuration } from '../protocol/index.js';
import { freePort } from '../test/helpers/procs.js';
import { startPrometheus } from '../test/helpers/prometheus.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
};

interface Case {
  name: string;
  over: string;
  rule: Record<string, unknown>;
  promql: string;
}

/** The expressions, each as a laas condition and as PromQL. */
const CASES: Case[] = [
  {
    name: 'cpu-avg',
    over: '10m',
    rule: { fact: 'cpu', path: '$.usage', over: '10m', fn: 'avg', operator: 'greaterThan', value: 90 },
    promql: 'avg_over_time(laas_host_cpu_usage_percent[10m]) > 90',
  },
  {
    name: 'cpu-min',
    over: '5m',
    rule: { fact: 'cpu', path: '$.usage', over: '5m', fn: 'min', operator: 'greaterThan', value: 90 },
    promql: 'min_over_time(laas_host_cpu_usage_percent[5m]) > 90',
  },
  {
    name: 'cpu-p90',
    over: '15m',
    rule: { fact: 'cpu', path: '$.usage', over: '15m', fn: 'quantile', q: 0.9, operator: 'greaterThan', value: 90 },
    promql: 'quantile_over_time(0.9, laas_host_cpu_usage_percent[15m]) > 90',
  },
  {
    name: 'disk-fills-4h',
    over: '1h',
    rule: { fact: 'disk', path: "$['/'].freeBytes", over: '1h', fn: 'predict', ahead: '4h', operator: 'lessThan', value: 0 },
    promql: 'predict_linear(laas_host_disk_free_bytes{mount="/"}[1h], 14400) < 0',
  },
  {
    name: 'svc-flapping',
    over: '1h',
    rule: { fact: 'service', path: '$.web.up', over: '1h', fn: 'changes', operator: 'greaterThan', value: 4 },
    promql: 'changes(laas_host_service_up{service="web"}[1h]) > 4',
  },
];

/** A small seeded PRNG (mulberry32): the same history every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The OpenMetrics text of the history: `steps` points per host from `from`, every `stepMs`. */
function history(hosts: number, from: number, steps: number, stepMs: number): string {
  const rnd = prng(19);
  const cpu: string[] = ['# TYPE laas_host_cpu_usage_percent gauge'];
  const disk: string[] = ['# TYPE laas_host_disk_free_bytes gauge'];
  const up: string[] = ['# TYPE laas_host_service_up gauge'];
  const GB = 1e9;
  for (let h = 0; h < hosts; h++) {
    const host = `host-${h}`;
    let burstLeft = 0;
    let burstLevel = 95;
    let free = 50 * GB + rnd() * 50 * GB;
    const fills = h % 3 === 0;
    const rate = (0.5 + rnd() * 4) * 1e6; // bytes a second: 100 GB in 7 to 55 hours
    const flapFrom = h % 10 === 0 ? Math.floor(rnd() * steps * 0.7) : -1;
    let state = 1;
    for (let k = 0; k < steps; k++) {
      const ts = (from + k * stepMs) / 1000;
      if (burstLeft === 0 && rnd() < 0.004) {
        burstLeft = 8 + Math.floor(rnd() * 152);
        burstLevel = 92 + rnd() * 7;
      }
      const usage = burstLeft > 0 ? burstLevel + (rnd() - 0.5) * 4 : 20 + rnd() * 30;
      if (burstLeft > 0) burstLeft--;
      cpu.push(`laas_host_cpu_usage_percent{host="${host}"} ${usage.toFixed(2)} ${ts}`);
      if (fills) {
        free -= rate * (stepMs / 1000) * (0.8 + rnd() * 0.4);
        if (free < 2 * GB) free = 60 * GB + rnd() * 40 * GB;
      }
      disk.push(`laas_host_disk_free_bytes{host="${host}",mount="/"} ${Math.round(free)} ${ts}`);
      // Flapping: a two-hour stretch where the service changes state with a 6 % chance a step.
      if (flapFrom >= 0 && k >= flapFrom && k < flapFrom + 480 && rnd() < 0.06) state = 1 - state;
      if (flapFrom >= 0 && k === flapFrom + 480) state = 1;
      up.push(`laas_host_service_up{host="${host}",service="web"} ${state} ${ts}`);
    }
  }
  return [...cpu, ...disk, ...up, '# EOF', ''].join('\n');
}

interface Episode {
  start: number;
  end: number | null;
}

/** Prometheus: the steps at which each host's series is returned, as episodes (an alert with `for: 0`). */
function episodesOf(values: [number, string][], stepMs: number, to: number): Episode[] {
  const out: Episode[] = [];
  let cur: Episode | undefined;
  let prev = Number.NaN;
  for (const [t] of values) {
    const at = Math.round(t * 1000);
    if (cur && at - prev > stepMs) {
      cur.end = prev + stepMs;
      out.push(cur);
      cur = undefined;
    }
    if (!cur) cur = { start: at, end: null };
    prev = at;
  }
  if (cur) {
    // Still returned at the last step: still firing; else it ended at the step after its last.
    if (prev + stepMs <= to) cur.end = prev + stepMs;
    out.push(cur);
  }
  return out;
}

const hms = (ms: number | null) => (ms === null ? '…' : new Date(ms).toISOString().slice(11, 19));
const span = (e: Episode) => `${hms(e.start)}–${hms(e.end)}`;

/** Episodes of one side that the other has within `tolMs` (start and end). */
function compare(a: Episode[], b: Episode[], tolMs: number) {
  const near = (x: number | null, y: number | null) => (x === null || y === null ? x === y : Math.abs(x - y) <= tolMs);
  let starts = 0;
  let ends = 0;
  for (const e of a) {
    const m = b.find((o) => Math.abs(o.start - e.start) <= tolMs);
    if (m) {
      starts++;
      if (near(e.end, m.end)) ends++;
    }
  }
  return { starts, ends };
}

async function main() {
  const hosts = Number(arg('hosts', '200'));
  const hours = Number(arg('hours', '6'));
  const stepMs = parseDuration(arg('step', '15s'))!;
  const out = arg('out', 'bench/results/windows-vs-prometheus.json');
  const dir = mkdtempSync(join(tmpdir(), 'laas-wvp-'));
  // Whole minutes, ending an hour ago: inside retention, clear of Prometheus' head.
  const to = Math.floor((Date.now() - 3_600_000) / 60_000) * 60_000;
  const steps = Math.round((hours * 3_600_000) / stepMs) + 1;
  const from = to - (steps - 1) * stepMs;
  const prom = { stop: async () => {} } as Awaited<ReturnType<typeof startPrometheus>>;
  let p = prom;
  try {
    let t0 = performance.now();
    writeFileSync(join(dir, 'history.om'), history(hosts, from, steps, stepMs));
    mkdirSync(join(dir, 'prom'));
    execFileSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', join(dir, 'history.om'), join(dir, 'prom', 'data')], { stdio: 'pipe' });
    const backfillMs = performance.now() - t0;
    p = await startPrometheus(await freePort(), join(dir, 'prom'));
    const prometheus = p.url;

    mkdirSync(join(dir, 'rules', 'cmp'), { recursive: true });
    for (const c of CASES)
      writeFileSync(
        join(dir, 'rules', 'cmp', `${c.name}.json`),
        JSON.stringify({ name: c.name, when: { all: [c.rule] }, severity: 'info', summary: c.name, flap: { changes: 1_000_000 } }),
      );
    const { rules, errors } = loadRules([join(dir, 'rules')]);
    if (errors.length) throw new Error(JSON.stringify(errors));

    // Prometheus first, once to warm its caches, then timed.
    const promEpisodes = new Map<string, Map<string, Episode[]>>();
    let promMs = 0;
    for (const pass of [0, 1])
      for (const c of CASES) {
        t0 = performance.now();
        const series = await queryRange(prometheus, c.promql, from, to, stepMs);
        if (pass === 1) promMs += performance.now() - t0;
        const byHost = new Map<string, Episode[]>();
        for (const s of series) byHost.set(s.metric.host, episodesOf(s.values, stepMs, to));
        promEpisodes.set(c.name, byHost);
      }

    // laas: the whole backtest, and the reads from Prometheus apart (a run with no rules reads nothing).
    t0 = performance.now();
    const report = await backtest(rules, { prometheus, source: 'laas', from, to, stepMs, labels: {} });
    const laasTotalMs = performance.now() - t0;
    t0 = performance.now();
    for (const q of ['laas_host_cpu_usage_percent', 'laas_host_disk_free_bytes', 'laas_host_service_up']) await queryRange(prometheus, q, from, to, stepMs);
    const laasReadMs = performance.now() - t0;

    const results = CASES.map((c) => {
      const overMs = parseDuration(c.over)!;
      const after = (e: Episode) => e.start >= from + overMs + stepMs;
      const laasBy = new Map<string, Episode[]>();
      for (const a of report.rules.find((r) => r.rule === `cmp/${c.name}`)!.alerts) {
        const list = laasBy.get(a.host) ?? [];
        list.push({ start: Date.parse(a.firedAt), end: a.endsAt ? Date.parse(a.endsAt) : null });
        laasBy.set(a.host, list);
      }
      let laasN = 0;
      let promN = 0;
      let laasMatched = 0;
      let promMatched = 0;
      let endsMatched = 0;
      const misses: string[] = [];
      for (let h = 0; h < hosts; h++) {
        const host = `host-${h}`;
        const l = (laasBy.get(host) ?? []).filter(after);
        const pr = (promEpisodes.get(c.name)!.get(host) ?? []).filter(after);
        laasN += l.length;
        promN += pr.length;
        const lm = compare(l, pr, stepMs);
        laasMatched += lm.starts;
        endsMatched += lm.ends;
        promMatched += compare(pr, l, stepMs).starts;
        if (misses.length < 5 && (lm.starts < l.length || pr.length > lm.starts || lm.ends < lm.starts))
          misses.push(`${host}: laas ${l.map(span).join(',')} / prometheus ${pr.map(span).join(',')}`);
      }
      return {
        rule: c.name,
        promql: c.promql,
        laasEpisodes: laasN,
        prometheusEpisodes: promN,
        laasMatched,
        prometheusMatched: promMatched,
        endsMatched,
        misses,
      };
    });
    const summary = {
      at: new Date().toISOString(),
      hosts,
      hours,
      step: arg('step', '15s'),
      samples: hosts * steps * 3,
      backfillMs: Math.round(backfillMs),
      prometheusQueryMs: Math.round(promMs),
      laasBacktestMs: Math.round(laasTotalMs),
      laasReadMs: Math.round(laasReadMs),
      laasReplayMs: Math.round(laasTotalMs - laasReadMs),
      results,
    };
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
    console.log(JSON.stringify(summary, null, 2));
  } finally {
    await p.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
