/**
 * The agent's footprint at default settings — interval 10 s, 3 services probed over TCP every
 * 1 s — next to node_exporter (scraped every 10 s, as a Prometheus would) and Monit
 * (`set daemon 1`, the same 3 services as `check process`), all running in the same run.
 *
 * For each process, every second: VmRSS (and VmHWM, the kernel's peak) from /proc/<pid>/status;
 * CPU from utime+stime in /proc/<pid>/stat over the measured window (after a warm-up), as a
 * percentage of one core. For the agent also the longest event-loop stall during a collection
 * (the agent measures it itself: agent/stalls.ts, logged at debug each collection) and its V8 heap.
 *
 * By default the agent is the installed form: the esbuild bundle (npm run pack →
 * dist/bundle/laas-agent.mjs) with the Node flags of packaging/systemd/laas-agent.service.
 * --variant NAME=FLAGS (repeatable) runs more agents beside it with other Node flags (";" for
 * none), to measure each flag side by side; NAME@FILE=FLAGS runs another agent script (e.g. a kept
 * copy of the previous bundle) so two builds are compared in the same run; --agent dist runs the
 * unbundled dist/cli/agent-main.js.
 *
 *   npm run build && npm run pack && node dist/bench/agent-footprint.js [--seconds 300] [--warmup 10]
 *       [--tls] [--agent bundle|dist] [--variant plain=] [--variant small="--max-semi-space-size=1"] [--out FILE]
 *
 * --everything measures instead the agent with every fact source on beside the agent without
 * them, and node_exporter with a Nagios-style runner: see bench/footprint-everything.ts.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { AGENT_TOKEN, Fleet } from '../test/helpers/fleet.js';
import { freePort, laasRun, logLines, stopAll, waitFor } from '../test/helpers/procs.js';
import { BINS, demoService, hasBin, onInterrupt, removeDir, run, scratch, startDemo, stopAnchors, type Child, type DemoService } from './anchors/common.js';
import { startMonit } from './anchors/monit.js';
import { startNodeExporter } from './anchors/node-exporter.js';
import { everything } from './footprint-everything.js';
import { CLK_TCK, cpuTicks, status, unitEnv, unitFlags } from './footprint-proc.js';

export { unitEnv, unitFlags };

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}
function args(name: string): string[] {
  return process.argv.flatMap((a, i) => (a === `--${name}` && process.argv[i + 1] !== undefined ? [process.argv[i + 1]] : []));
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A variant's words: NAME=VALUE words in capitals are environment (as in a shell), the rest Node flags. */
export function splitVariant(words: string[]): { flags: string[]; env: Record<string, string> } {
  const env: Record<string, string> = {};
  const flags: string[] = [];
  for (const w of words) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(w);
    if (m) env[m[1]] = m[2];
    else flags.push(w);
  }
  return { flags, env };
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

interface Watched {
  name: string;
  pid: number;
  rss: number[];
  anon: number[];
  file: number[];
  ticks0?: number;
  t0?: number;
  ticks1?: number;
  t1?: number;
}

async function main(): Promise<void> {
  const seconds = Number(arg('seconds', '300'));
  const warmup = Number(arg('warmup', '10'));
  const out = arg('out', 'bench/results/agent-footprint.json');
  const form = arg('agent', 'bundle');
  const tls = process.argv.includes('--tls');
  const script = form === 'dist' ? resolve('dist/cli/agent-main.js') : resolve('dist/bundle/laas-agent.mjs');
  if (!existsSync(script)) throw new Error(`${script} is missing: run ${form === 'dist' ? 'npm run build' : 'npm run pack'} first`);
  const installed = unitFlags();
  const installedEnv = unitEnv();
  type Variant = [name: string, flags: string[], file: string, env: Record<string, string>];
  const variants: Variant[] = [
    ['installed', installed, script, installedEnv],
    ...args('variant').map((v): Variant => {
      const i = v.indexOf('=');
      if (i <= 0) throw new Error(`--variant ${v}: expected NAME=FLAGS or NAME@FILE=FLAGS`);
      const [name, file] = v.slice(0, i).split('@', 2) as [string, string | undefined];
      if (file !== undefined && !existsSync(file)) throw new Error(`--variant ${v}: ${file} is missing`);
      const { flags, env } = splitVariant(
        v
          .slice(i + 1)
          .split(/[\s;]+/)
          .filter(Boolean),
      );
      return [name, flags, file !== undefined ? resolve(file) : script, env];
    }),
  ];
  const anchorsWanted = !process.argv.includes('--no-anchors');
  for (const [what, bins] of [
    ['monit', BINS.monit],
    ['node_exporter', BINS.nodeExporter],
  ] as const) {
    if (anchorsWanted && !hasBin([...bins]) && process.env.CI) throw new Error(`anchor missing under CI: ${what} (sudo bench/anchors/install.sh)`);
  }

  const dir = scratch('footprint');
  const fleet = new Fleet();
  const services: DemoService[] = [];
  const agents: { name: string; proc: Child; flags: string[]; env: Record<string, string> }[] = [];
  const watched: Watched[] = [];
  const skipped: Record<string, string> = {};
  const cleanup = async () => {
    for (const a of agents) await a.proc.stop();
    await stopAnchors();
    await stopAll();
    for (const s of services) s.kill();
    await fleet.cleanup();
    removeDir(dir);
  };
  onInterrupt(cleanup);
  try {
    for (const n of ['svc1', 'svc2', 'svc3']) {
      const s = demoService(n, await freePort(), dir);
      await startDemo(s);
      services.push(s);
    }
    // --tls: the link as install.sh sets it up off the controller's host — wss:// with a pinned CA
    // (TLS costs the agent node:tls and OpenSSL's state; ws:// on loopback is the cheaper case).
    let link = { url: '', ca: undefined as string | undefined };
    if (tls) {
      const certs = join(fleet.dir, 'certs');
      const made = await laasRun(['certs', 'init', '--dir', certs, '--hosts', 'localhost,127.0.0.1']);
      if (made.code !== 0) throw new Error(`laas certs init failed: ${made.stderr}`);
      await fleet.startController(
        { tls: { cert: join(certs, 'controller.pem'), key: join(certs, 'controller-key.pem') } },
        { https: true, ca: readFileSync(join(certs, 'ca.pem'), 'utf8') },
      );
      link = { url: `wss://localhost:${fleet.port}`, ca: join(certs, 'ca.pem') };
    } else {
      await fleet.startController();
      link = { url: `ws://127.0.0.1:${fleet.port}`, ca: undefined };
    }
    for (const [name, flags, file, env] of variants) {
      // Default settings: no interval, no probeInterval given (10 s and 1 s), plain tcp probes.
      const config = fleet.writeRaw(
        `agent-${name}.json`,
        JSON.stringify({
          controller: link.url,
          ...(link.ca ? { ca: link.ca } : {}),
          token: AGENT_TOKEN,
          ...fleet.pin(),
          id: `footprint-${name}`,
          labels: { role: 'bench' },
          services: services.map((s) => ({ name: s.name, probe: { tcp: `127.0.0.1:${s.port}` }, restart: s.start })),
        }),
      );
      // Debug level adds only the one "collected" line per interval, which carries the stall.
      const proc = run(process.execPath, [...flags, file, '--config', config], { env: { ...env, LAAS_LOG_LEVEL: 'debug' } });
      agents.push({ name, proc, flags, env });
    }
    await waitFor(
      'agents connected',
      async () => (await fleet.api<{ id: string; connected: boolean }[]>('/api/v1/hosts')).filter((h) => h.connected).length === agents.length,
      30_000,
    );
    for (const a of agents) watched.push({ name: `laas-agent (${a.name})`, pid: a.proc.pid, rss: [], anon: [], file: [] });

    let scrapeNodeExporter: (() => Promise<number>) | undefined;
    if (anchorsWanted && hasBin([...BINS.nodeExporter])) {
      const ne = await startNodeExporter();
      scrapeNodeExporter = ne.scrape;
      watched.push({ name: 'node_exporter', pid: ne.proc.pid, rss: [], anon: [], file: [] });
    } else skipped.node_exporter = anchorsWanted ? 'prometheus-node-exporter not installed' : '--no-anchors';
    if (anchorsWanted && hasBin([...BINS.monit])) {
      const monitSvcs = services.map((s) => ({ ...s, name: `m${s.name}` }));
      const monit = await startMonit({ daemonSeconds: 1, services: monitSvcs });
      watched.push({ name: 'monit (daemon 1)', pid: monit.proc.pid, rss: [], anon: [], file: [] });
    } else skipped.monit = anchorsWanted ? 'monit not installed' : '--no-anchors';

    const sampleAll = () => {
      for (const w of watched) {
        const s = status(w.pid);
        w.rss.push(s.VmRSS);
        w.anon.push(s.RssAnon);
        w.file.push(s.RssFile);
      }
    };
    await sleep(warmup * 1000);
    for (const w of watched) {
      w.ticks0 = cpuTicks(w.pid);
      w.t0 = performance.now();
    }
    const started = Date.now();
    let nextScrape = 0;
    while (Date.now() - started < seconds * 1000) {
      sampleAll();
      if (scrapeNodeExporter && Date.now() >= nextScrape) {
        nextScrape = Date.now() + 10_000;
        await scrapeNodeExporter();
      }
      await sleep(1000);
    }
    for (const w of watched) {
      w.ticks1 = cpuTicks(w.pid);
      w.t1 = performance.now();
    }
    const peaks = Object.fromEntries(watched.map((w) => [w.name, status(w.pid).VmHWM]));

    const processes = Object.fromEntries(
      watched.map((w) => {
        const cpuPercent = ((w.ticks1! - w.ticks0!) / CLK_TCK / ((w.t1! - w.t0!) / 1000)) * 100;
        const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
        return [
          w.name,
          {
            pid: w.pid,
            rssMiB: { min: r1(Math.min(...w.rss)), avg: r1(avg(w.rss)), last: r1(w.rss.at(-1)!), max: r1(Math.max(...w.rss)), peakHWM: r1(peaks[w.name]) },
            rssAnonMiB: r1(avg(w.anon)),
            rssFileMiB: r1(avg(w.file)),
            cpuPercentOfOneCore: r3(cpuPercent),
            cpuSeconds: r3((w.ticks1! - w.ticks0!) / CLK_TCK),
          },
        ];
      }),
    );
    const agentLogs = Object.fromEntries(
      agents.map((a) => {
        const lines = logLines(a.proc.output()).filter((l) => l.msg === 'collected' || /blocked the event loop/.test(String(l.msg)));
        const stalls = lines.map((l) => Number(l.stallMs));
        const heap = lines.map((l) => (l.memory as { heapUsed?: number; heapTotal?: number; external?: number } | undefined) ?? {}).at(-1) ?? {};
        return [
          a.name,
          {
            flags: a.flags,
            env: a.env,
            collections: lines.length,
            collectionStallMaxMs: stalls.length ? Math.max(...stalls) : null,
            collectionMsMax: lines.length ? Math.max(...lines.map((l) => Number(l.ms))) : null,
            lastHeapMiB: { used: r1((heap.heapUsed ?? 0) / 2 ** 20), total: r1((heap.heapTotal ?? 0) / 2 ** 20), external: r1((heap.external ?? 0) / 2 ** 20) },
          },
        ];
      }),
    );
    const main = processes['laas-agent (installed)'] as { rssMiB: { max: number; peakHWM: number }; cpuPercentOfOneCore: number };
    const mainLog = agentLogs.installed;
    const targets = {
      rssAtMost50MB: { maxMiB: main.rssMiB.max, peakHWMMiB: main.rssMiB.peakHWM, limitMiB: r1(50e6 / 2 ** 20), met: main.rssMiB.max * 2 ** 20 <= 50e6 },
      cpuAtMostHalfPercent: { percent: main.cpuPercentOfOneCore, met: main.cpuPercentOfOneCore <= 0.5 },
      noCollectionStallOver20ms: { maxMs: mainLog.collectionStallMaxMs, met: mainLog.collectionStallMaxMs !== null && mainLog.collectionStallMaxMs <= 20 },
    };
    const result = {
      bench: 'agent-footprint',
      date: new Date().toISOString(),
      node: process.version,
      machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg() },
      seconds,
      warmup,
      link: tls ? 'wss' : 'ws',
      agent: { form, script: script.replace(resolve('.') + '/', ''), installedFlags: installed, installedEnv },
      settings: 'agent defaults: interval 10s, 3 services probed over tcp every 1s; node_exporter scraped every 10s; monit set daemon 1 with 3 check process',
      processes,
      agents: agentLogs,
      targets,
      skipped,
    };
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    const line = Object.entries(processes)
      .map(([n, p]) => `${n} RSS max ${p.rssMiB.max} MiB, CPU ${p.cpuPercentOfOneCore}%`)
      .join('; ');
    console.log(`agent-footprint (${seconds} s): ${line}; agent collection stall max ${mainLog.collectionStallMaxMs} ms`);
  } finally {
    await cleanup();
  }
}

(process.argv.includes('--everything') ? everything() : main()).catch((e) => {
  console.error(e);
  process.exit(1);
});
