/**
 * `agent-footprint --everything` (issue 18, "Performance"): what every fact source costs the
 * agent, beside what the usual pair of tools costs for the same facts. All in the same run, at once:
 *
 *  (a) the agent as installed (bundle, the unit's flags and environment) as configured before
 *      the sources: 3 services probed over tcp every 1 s, host facts (every collector) every 10 s;
 *  (b) the same agent and config plus 20 command checks (real Monitoring Plugins: check_load,
 *      check_disk, check_procs, check_tcp, check_users) at 30 s, one scrape at 15 s of a real
 *      node_exporter, 5 log files appended to at --log-rate lines/s (1 in 10 matching);
 *  (c) node_exporter (scraped by the bench every 10 s, as a Prometheus would at the agent's host
 *      fact interval) and a Nagios-style runner: a bash loop running the same 20 plugins every 30 s;
 *  (d) the Node floor: a bare Node program (node-runner.ts, the unit's flags) spawning the same 20
 *      plugins every 30 s as the agent spawns a check — what Node charges per fork+exec and pipe;
 *  --before FILE: (a)'s config run by another agent bundle too (e.g. one built before issue 18,
 *      whose host facts were only cpu, memory, disk and net);
 *  --split: three more agents, each with one kind of source of (b) only;
 *  --profile DIR: (b) runs with --cpu-prof, its profile written to DIR when it stops;
 *  --services N: how many tcp-probed services (a) and (b) watch (3; 0 is the issue's own config:
 *      host facts at 10 s and the sources, nothing else);
 *  --variant NAME="FLAGS": one more (b) run with these Node flags instead of the unit's (repeatable).
 *
 * Every second, per process: VmRSS, RssAnon, RssFile (/proc/<pid>/status), every 5 s Pss
 * (/proc/<pid>/smaps_rollup); CPU over the window after the warm-up from /proc/<pid>/stat: the
 * process's own utime+stime, and apart from it cutime+cstime — the children it waited for, i.e.
 * the plugins (and the once-a-minute systemctl/timedatectl of host facts) for an agent, the
 * plugins (and `sleep`) for the runner. node_exporter scraped by (b) is reported on its own line.
 *
 *   npm run build && npm run pack && node dist/bench/agent-footprint.js --everything [--seconds 600] [--warmup 40]
 *       [--log-rate 10] [--before /tmp/laas-agent-pre18.mjs] [--split] [--profile DIR] [--services 3] [--variant NAME="FLAGS"]…
 *       [--out bench/results/footprint-everything.json]
 */
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { AGENT_TOKEN, Fleet } from '../test/helpers/fleet.js';
import { freePort, stopAll, waitFor } from '../test/helpers/procs.js';
import { BINS, demoService, hasBin, onInterrupt, removeDir, run, scratch, startDemo, stopAnchors, type Child, type DemoService } from './anchors/common.js';
import { startNodeExporter } from './anchors/node-exporter.js';
import { CLK_TCK, pss, status, ticks, unitEnv, unitFlags } from './footprint-proc.js';

const PLUGINS = '/usr/lib/nagios/plugins';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r2 = (x: number) => Math.round(x * 100) / 100;
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

/** 20 plugin command lines, cycling through five kinds, each name unique. */
export function pluginChecks(n: number, tcpPort: number): { name: string; command: string[] }[] {
  const kinds = [
    ['check_load', '-w', '1000,1000,1000', '-c', '2000,2000,2000'],
    ['check_disk', '-w', '5%', '-c', '2%', '-p', '/'],
    ['check_procs', '-w', '1:', '-c', '1:', '-C', 'node'],
    ['check_tcp', '-H', '127.0.0.1', '-p', String(tcpPort)],
    ['check_users', '-w', '100', '-c', '200'],
  ];
  return Array.from({ length: n }, (_, i) => {
    const [plugin, ...rest] = kinds[i % kinds.length];
    return { name: `${plugin}-${i}`, command: [`${PLUGINS}/${plugin}`, ...rest] };
  });
}

/** A Nagios-style runner: every `everyS` seconds, each plugin in turn, its output discarded. */
function runnerScript(commands: string[][], everyS: number): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    '#!/bin/bash',
    'while :; do',
    `  next=$((SECONDS + ${everyS}))`,
    ...commands.map((c) => `  ${c.map(q).join(' ')} >/dev/null 2>&1`),
    '  left=$((next - SECONDS)); [ "$left" -gt 0 ] && sleep "$left"',
    'done',
    '',
  ].join('\n');
}

interface Watched {
  name: string;
  pid: number;
  rss: number[];
  anon: number[];
  file: number[];
  pss: number[];
  pssAnon: number[];
  t0?: [number, number];
  t1?: [number, number];
  /** Own ticks at the end of each minute, for the spread between minutes. */
  minutes: number[];
  stalls: number[];
}

/** Follows an agent's JSON log lines (stderr) for the longest stall of each collection and its warnings. */
function followLog(child: Child, w: Watched, problems: string[]): void {
  let rest = '';
  child.child.stderr?.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      try {
        const l = JSON.parse(line) as { msg?: string; level?: number | string; stallMs?: number };
        if (l.msg === 'collected' && typeof l.stallMs === 'number') w.stalls.push(l.stallMs);
        const level = typeof l.level === 'number' ? l.level : ({ warn: 40, error: 50, fatal: 60 } as Record<string, number>)[String(l.level)];
        if ((level ?? 0) >= 40 && problems.length < 50) problems.push(`${w.name}: ${line.slice(0, 300)}`);
      } catch {
        /* not a log line */
      }
    }
  });
}

export async function everything(): Promise<void> {
  const seconds = Number(arg('seconds', '600'));
  const warmup = Number(arg('warmup', '40'));
  const logRate = Number(arg('log-rate', '10'));
  const before = process.argv.includes('--before') ? resolve(arg('before', '')) : undefined;
  const out = arg('out', 'bench/results/footprint-everything.json');
  const split = process.argv.includes('--split');
  const profile = process.argv.includes('--profile') ? resolve(arg('profile', '')) : undefined;
  const serviceCount = Number(arg('services', '3'));
  const variants = process.argv
    .flatMap((a, i) => (a === '--variant' && process.argv[i + 1] ? [process.argv[i + 1]] : []))
    .map((v) => {
      const eq = v.indexOf('=');
      if (eq <= 0) throw new Error(`--variant ${v}: expected NAME="NODE FLAGS"`);
      return {
        name: v.slice(0, eq),
        flags: v
          .slice(eq + 1)
          .split(/\s+/)
          .filter(Boolean),
      };
    });
  const script = resolve('dist/bundle/laas-agent.mjs');
  if (!existsSync(script)) throw new Error(`${script} is missing: run npm run pack first`);
  if (before !== undefined && !existsSync(before)) throw new Error(`--before ${before}: missing`);
  if (!hasBin([...BINS.nodeExporter])) throw new Error('prometheus-node-exporter is not installed (sudo bench/anchors/install.sh)');
  for (const p of ['check_load', 'check_disk', 'check_procs', 'check_tcp', 'check_users'])
    if (!existsSync(`${PLUGINS}/${p}`)) throw new Error(`${PLUGINS}/${p} is missing: apt-get install monitoring-plugins-basic monitoring-plugins-standard`);
  const flags = unitFlags();
  const env = unitEnv();

  const dir = scratch('everything');
  const fleet = new Fleet();
  const services: DemoService[] = [];
  const agents: Child[] = [];
  const watched: Watched[] = [];
  const problems: string[] = [];
  let writing: ReturnType<typeof setInterval> | undefined;
  const cleanup = async () => {
    clearInterval(writing);
    for (const a of agents) await a.stop();
    await stopAnchors();
    await stopAll();
    for (const s of services) s.kill();
    await fleet.cleanup();
    removeDir(dir);
  };
  onInterrupt(cleanup);
  const watch = (name: string, pid: number): Watched => {
    const w: Watched = { name, pid, rss: [], anon: [], file: [], pss: [], pssAnon: [], minutes: [], stalls: [] };
    watched.push(w);
    return w;
  };
  try {
    for (const n of ['svc1', 'svc2', 'svc3'].slice(0, serviceCount)) {
      const s = demoService(n, await freePort(), dir);
      await startDemo(s);
      services.push(s);
    }
    await fleet.startController();
    const scraped = await startNodeExporter();
    const anchor = await startNodeExporter();

    const logFiles = Array.from({ length: 5 }, (_, i) => join(dir, `app${i}.log`));
    for (const f of logFiles) writeFileSync(f, '');
    const checks = pluginChecks(20, fleet.port);
    const base = (id: string) => ({
      controller: `ws://127.0.0.1:${fleet.port}`,
      token: AGENT_TOKEN,
      ...fleet.pin(),
      id,
      labels: { role: 'bench' },
      services: services.map((s) => ({ name: s.name, probe: { tcp: `127.0.0.1:${s.port}` }, restart: s.start })),
    });
    const sources = {
      checks: checks.map((c) => ({ ...c, interval: '30s', timeout: '10s' })),
      scrape: [{ name: 'node', url: scraped.url, interval: '15s' }],
      logs: logFiles.map((file, i) => ({ name: `app${i}`, file, match: 'ERROR|FATAL' })),
    };
    type Role = [label: string, file: string, config: Record<string, unknown>, flags?: string[]];
    const roles: Role[] = [
      ['agent, no sources (a)', script, base('footprint-base')],
      ['agent, every source (b)', script, { ...base('footprint-everything'), ...sources }],
      ...(before ? [['agent before issue 18, no sources', before, base('footprint-before')] as Role] : []),
      // --split: one more agent per kind of source, to see which costs what.
      ...(split ? (['checks', 'scrape', 'logs'] as const).map((k): Role => [`agent, only ${k}`, script, { ...base(`footprint-${k}`), [k]: sources[k] }]) : []),
      ...variants.map((v): Role => [`agent, every source, ${v.name}`, script, { ...base(`footprint-${v.name}`), ...sources }, v.flags]),
    ];
    for (const [label, file, config, own] of roles) {
      const path = fleet.writeRaw(`${String(config.id)}.json`, JSON.stringify(config));
      // --profile DIR: a V8 CPU profile of (b), written when it exits.
      const extra = profile !== undefined && config.id === 'footprint-everything' ? ['--cpu-prof', '--cpu-prof-dir', profile] : [];
      // Debug level adds the one "collected" line per interval, which carries the stall.
      const proc = run(process.execPath, [...(own ?? flags), ...extra, file, '--config', path], { env: { ...env, LAAS_LOG_LEVEL: 'debug' } });
      agents.push(proc);
      followLog(proc, watch(label, proc.pid), problems);
    }
    await waitFor(
      'agents connected',
      async () => (await fleet.api<{ id: string; connected: boolean }[]>('/api/v1/hosts')).filter((h) => h.connected).length === roles.length,
      30_000,
    );
    const runnerFile = join(dir, 'runner.sh');
    writeFileSync(
      runnerFile,
      runnerScript(
        checks.map((c) => c.command),
        30,
      ),
      { mode: 0o755 },
    );
    const runner = run('/bin/bash', [runnerFile]);
    const commandsFile = join(dir, 'commands.json');
    writeFileSync(commandsFile, JSON.stringify(checks.map((c) => c.command)));
    const nodeRunner = run(process.execPath, [...flags, resolve('dist/bench/node-runner.js'), commandsFile, '30'], { env });
    watch('node_exporter, scraped by the bench every 10 s (c)', anchor.proc.pid);
    watch('Nagios-style runner, bash (c)', runner.pid);
    watch('Node floor: bare Node spawning the same plugins (d)', nodeRunner.pid);
    watch('node_exporter, scraped by agent (b) every 15 s', scraped.proc.pid);

    // The logs: `logRate` lines a second over the five files, one in ten an error.
    let written = 0;
    writing = setInterval(() => {
      const at = new Date().toISOString();
      for (let i = 0; i < logRate / 5; i++) {
        const f = logFiles[written % logFiles.length];
        appendFileSync(f, `${at} ${written % 10 === 0 ? 'ERROR' : 'INFO'} request ${written} handled in 12 ms by worker ${written % 7}\n`);
        written++;
      }
    }, 200);

    const sample = (withPss: boolean) => {
      for (const w of watched) {
        const s = status(w.pid);
        w.rss.push(s.VmRSS);
        w.anon.push(s.RssAnon);
        w.file.push(s.RssFile);
        if (withPss) {
          const p = pss(w.pid);
          w.pss.push(p.Pss);
          w.pssAnon.push(p.Pss_Anon);
        }
      }
    };
    let nextScrape = 0;
    const tick = async (s: number) => {
      sample(s % 5 === 0);
      if (Date.now() >= nextScrape) {
        nextScrape = Date.now() + 10_000;
        await anchor.scrape();
      }
    };
    for (let s = 0; s < warmup; s++) {
      await tick(1);
      await sleep(1000);
    }
    for (const w of watched) {
      w.rss.length = w.anon.length = w.file.length = w.pss.length = w.pssAnon.length = w.stalls.length = 0;
      w.t0 = ticks(w.pid);
    }
    const t0 = performance.now();
    for (let s = 1; s <= seconds; s++) {
      await tick(s);
      if (s % 60 === 0) for (const w of watched) w.minutes.push(ticks(w.pid)[0]);
      await sleep(Math.max(0, t0 + s * 1000 - performance.now()));
    }
    for (const w of watched) w.t1 = ticks(w.pid);
    const window = (performance.now() - t0) / 1000;
    const metrics = await (await fleet.fetch('/metrics')).text();
    const seen = (family: string) => metrics.split('\n').filter((l) => l.startsWith(family) && l.includes('host="footprint-everything"')).length;
    const delivered = {
      checkStatusSeries: seen('laas_host_check_status{'),
      logMatchSeries: seen('laas_host_log_matches{'),
      scrapedSeries: metrics.split('\n').find((l) => l.startsWith('laas_host_metric_series{') && l.includes('host="footprint-everything"')) ?? null,
      logLinesWritten: written,
    };
    const peaks = Object.fromEntries(watched.map((w) => [w.name, status(w.pid).VmHWM]));

    const processes = Object.fromEntries(
      watched.map((w) => {
        const own = ((w.t1![0] - w.t0![0]) / CLK_TCK / window) * 100;
        const children = ((w.t1![1] - w.t0![1]) / CLK_TCK / window) * 100;
        const perMinute = w.minutes.map((t, i) => ((t - (i === 0 ? w.t0![0] : w.minutes[i - 1])) / CLK_TCK / 60) * 100);
        return [
          w.name,
          {
            pid: w.pid,
            cpuPercentOfOneCore: {
              own: r3(own),
              children: r3(children),
              ownPerMinuteMin: r3(Math.min(...perMinute)),
              ownPerMinuteMax: r3(Math.max(...perMinute)),
            },
            rssMiB: { min: r2(Math.min(...w.rss)), median: r2(median(w.rss)), avg: r2(avg(w.rss)), max: r2(Math.max(...w.rss)), peakHWM: r2(peaks[w.name]) },
            rssAnonMiB: r2(avg(w.anon)),
            rssFileMiB: r2(avg(w.file)),
            pssMiB: w.pss.length ? r2(avg(w.pss)) : null,
            pssAnonMiB: w.pssAnon.length ? r2(avg(w.pssAnon)) : null,
            collections: w.stalls.length,
            collectionStallMaxMs: w.stalls.length ? Math.max(...w.stalls) : null,
          },
        ];
      }),
    );
    type P = { cpuPercentOfOneCore: { own: number; children: number }; rssMiB: { median: number; avg: number; max: number } };
    const a = processes['agent, no sources (a)'] as P;
    const b = processes['agent, every source (b)'] as P;
    const floor = (processes['Node floor: bare Node spawning the same plugins (d)'] as P).cpuPercentOfOneCore.own;
    const targets = {
      agentCpuAtMost1Percent: { percent: b.cpuPercentOfOneCore.own, met: b.cpuPercentOfOneCore.own <= 1 },
      // What Node itself charges to run the 20 plugins (d), then the agent's own above that floor.
      nodeSpawnFloorPercent: floor,
      agentCpuAboveNodeFloorAtMost1Percent: { percent: r3(b.cpuPercentOfOneCore.own - floor), met: b.cpuPercentOfOneCore.own - floor <= 1 },
      agentCpuAboveBaseline: r3(b.cpuPercentOfOneCore.own - a.cpuPercentOfOneCore.own),
      rssAtMost8MiBAbove: {
        medianMiB: r2(b.rssMiB.median - a.rssMiB.median),
        avgMiB: r2(b.rssMiB.avg - a.rssMiB.avg),
        maxMiB: r2(b.rssMiB.max - a.rssMiB.max),
        met: b.rssMiB.max - a.rssMiB.max <= 8,
      },
    };
    const result = {
      bench: 'agent-footprint --everything',
      date: new Date().toISOString(),
      node: process.version,
      machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg().map(r2) },
      seconds,
      warmup,
      logRate,
      agent: { script: script.replace(resolve('.') + '/', ''), before, flags, env, services: serviceCount, variants },
      processes,
      delivered,
      targets,
      problems,
    };
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await cleanup();
  }
}
