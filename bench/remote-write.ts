/**
 * Remote-write (controller/export/) at fleet scale, in this process with the controller's own
 * classes (LatestFacts → RemoteWriter → protobuf + snappy → fetch), each host's facts being
 * test/helpers/every-fact.ts (every fact kind of issue 18: cpu, memory, system, 2 mounts,
 * 2 interfaces, 1 disk device, 2 services, 2 checks and their perfdata, an exporter's metrics,
 * a cert, a ping, a dns and a log probe). Three modes:
 * - encode: one collection of every host's series, sliced as the writer sends them and encoded
 *   (no network): wall and CPU per collection, series per host, bytes per request and sample;
 * - send: for each --shards count and each --receiver, one after the other: a real Prometheus
 *   (the Debian package's binary, remote-write receiver on, a fresh data folder) or the null
 *   receiver (null-receiver.ts, a child process that reads and decompresses each body and answers
 *   204: what laas itself can push) receiving for --seconds; each host's facts recorded anew every
 *   interval as agents' samples would be; every request timed (fetch wrapped): samples/s, each
 *   collection's drain time, request sizes, p50/p99, CPU of both sides, the load average;
 * - down: the receiver unreachable (a port nobody listens on) for --seconds with the facts still
 *   arriving each interval: RSS and heap every second, the queue gauge and the dropped count —
 *   the memory must level off once the queue holds maxQueuedSamples.
 * What the controller does before a sample reaches onFacts (the link, validation, rules) is
 * controller-scale's; this measures what remote-write adds.
 *
 *   npm run build && node --expose-gc dist/bench/remote-write.js --mode encode|send|down [--hosts 20000]
 *     [--seconds 60] [--interval 15s] [--max-queued 2000000] [--per-send 2000] [--out bench/results/remote-write.json]
 *     [--shards 1,4,8] [--receiver prometheus,null]   (send only; results under send-<receiver>-shards-<n>)
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { Counter, Gauge, Registry } from 'prom-client';
import { LatestFacts } from '../controller/export/latest-facts.js';
import { RemoteWriter, type RemoteWriteMetrics } from '../controller/export/remote-write.js';
import { encodeWriteRequest } from '../controller/export/write-request.js';
import { parseDuration, type Logger, type Sample } from '../protocol/index.js';
import { everyFact } from '../test/helpers/every-fact.js';
import { CLK_TCK, cpuTicks, status } from './footprint-proc.js';
import { freePort } from '../test/helpers/procs.js';
import { startReceiver, timeRequests } from './remote-write-receiver.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
};
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const MiB = 2 ** 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

const hostName = (i: number) => `host-${String(i).padStart(5, '0')}`;

/** Every host's facts, freshly made objects each time, as decoded samples would be. */
function arrive(latest: LatestFacts, hosts: number, round: number): void {
  const now = Date.now();
  for (let i = 0; i < hosts; i++) {
    const sample = { seq: round, ts: now, trigger: 'interval', ...everyFact(i + round, now) } as Sample;
    latest.record(hostName(i), sample, now);
  }
}

function metrics(): { m: RemoteWriteMetrics; total: (c: 'sent' | 'failed' | 'dropped' | 'retries') => Promise<number> } {
  const registers = [new Registry()];
  const counter = (name: string) => new Counter({ name, help: name, labelNames: ['remote'], registers });
  const m: RemoteWriteMetrics = {
    sent: counter('sent'),
    failed: counter('failed'),
    dropped: counter('dropped'),
    retries: counter('retries'),
    queued: new Gauge({ name: 'queued', help: 'queued', labelNames: ['remote'], registers }),
  };
  return { m, total: async (c) => (await m[c].get()).values.reduce((a, v) => a + v.value, 0) };
}

const log: Logger = {
  info: () => undefined,
  debug: () => undefined,
  warn: (o: unknown, msg?: string) => console.error('warn', msg, JSON.stringify(o)),
  error: (o: unknown, msg?: string) => console.error('error', msg, JSON.stringify(o)),
} as unknown as Logger;

/** VmRSS of a process in MiB (0 once it is gone). */
function procRssMiB(pid: number): number {
  try {
    return round(status(pid).VmRSS ?? 0, 1);
  } catch {
    return 0;
  }
}

/** Seconds of CPU a process has used (user + system), from /proc (0 once it is gone). */
function procCpuSeconds(pid: number): number {
  try {
    return cpuTicks(pid) / CLK_TCK;
  } catch {
    return 0;
  }
}

function memory(): { rssMiB: number; heapMiB: number; heapTotalMiB: number; arrayBuffersMiB: number } {
  const u = process.memoryUsage();
  return {
    rssMiB: round(u.rss / MiB, 1),
    heapMiB: round(u.heapUsed / MiB, 1),
    heapTotalMiB: round(u.heapTotal / MiB, 1),
    arrayBuffersMiB: round(u.arrayBuffers / MiB, 1),
  };
}

async function encodeMode(hosts: number, perSend: number) {
  const latest = new LatestFacts(3_600_000);
  const heap0 = (global.gc?.(), process.memoryUsage().heapUsed);
  arrive(latest, hosts, 0);
  global.gc?.();
  const latestHeapMiB = round((process.memoryUsage().heapUsed - heap0) / MiB, 1);
  const runs: { wallMs: number; cpuMs: number; seriesMs: number; series: number; requests: number; bytes: number }[] = [];
  for (let r = 0; r < 5; r++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let series = 0;
    let requests = 0;
    let bytes = 0;
    let seriesMs = 0;
    const it = latest.series(Date.now(), perSend, 5000, () => undefined);
    for (;;) {
      const s0 = performance.now();
      const next = it.next();
      seriesMs += performance.now() - s0;
      if (next.done) break;
      bytes += encodeWriteRequest(next.value).byteLength;
      series += next.value.length;
      requests++;
    }
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    runs.push({ wallMs: round(wallMs, 0), cpuMs: round((cpu.user + cpu.system) / 1000, 0), seriesMs: round(seriesMs, 0), series, requests, bytes });
  }
  const median = (k: 'wallMs' | 'cpuMs' | 'seriesMs') =>
    quantile(
      runs.map((r) => r[k]),
      0.5,
    );
  const { series, requests, bytes } = runs[0];
  return {
    hosts,
    seriesPerHost: round(series / hosts, 1),
    seriesPerCollection: series,
    requestsPerCollection: requests,
    samplesPerRequest: perSend,
    bytesPerRequest: Math.round(bytes / requests),
    bytesPerSample: round(bytes / series),
    collection: { wallMsMedian: median('wallMs'), cpuMsMedian: median('cpuMs'), ofWhichSeriesMs: median('seriesMs') },
    encodeSamplesPerSecond: Math.round(series / (median('wallMs') / 1000)),
    latestFactsHeapMiB: latestHeapMiB,
    runs,
  };
}

/**
 * One send run: the writer with `shards` against `receiver` for `seconds`. Besides samples/s over
 * the run, each collection's drain: from the collection's start until its last sample was
 * accepted (the queue empty again); a collection that drains within the interval is kept up with.
 */
async function sendMode(receiverKind: string, shards: number, hosts: number, seconds: number, intervalMs: number, perSend: number, maxQueued: number) {
  const receiver = await startReceiver(receiverKind);
  const latest = new LatestFacts(3_600_000);
  const { m, total } = metrics();
  const seen = timeRequests();
  const writer = new RemoteWriter(
    {
      url: receiver.writeUrl,
      intervalMs,
      timeoutMs: 30_000,
      headers: {},
      maxSamplesPerSend: perSend,
      shards,
      maxQueuedSamples: maxQueued,
      maxSeriesPerHost: 5000,
      minBackoffMs: 100,
      maxBackoffMs: 5000,
    },
    { latest, metrics: m, log },
  );
  // Each collection timed: the writer's timer calls this.collect(), so wrapping the instance's method sees them all.
  const collections: { at: number; collectMs: number; drainMs?: number; sentAtStart: number }[] = [];
  let started = 0;
  const collect = writer.collect.bind(writer);
  writer.collect = async () => {
    const c = { at: performance.now() - started, collectMs: 0, sentAtStart: await total('sent') };
    collections.push(c);
    await collect();
    c.collectMs = round(performance.now() - started - c.at, 0);
  };
  try {
    arrive(latest, hosts, 0);
    const load0 = loadavg();
    const cpu0 = { bench: process.cpuUsage(), receiver: procCpuSeconds(receiver.pid) };
    started = performance.now();
    writer.start();
    // The first collection at once rather than an interval in; then every interval as the timer does it.
    void writer.collect();
    const rounds: { at: number; queued: number; sent: number; rssMiB: number; receiverRssMiB: number }[] = [];
    let r = 0;
    const ticker = setInterval(() => arrive(latest, hosts, ++r), intervalMs);
    let lastRound = 0;
    while (performance.now() - started < seconds * 1000) {
      await sleep(50);
      const now = performance.now() - started;
      const last = collections.at(-1);
      if (last && last.drainMs === undefined && last.collectMs > 0 && writer.queuedSamples === 0) last.drainMs = round(now - last.at, 0);
      if (now - lastRound >= 1000) {
        lastRound = now;
        rounds.push({
          at: round(now / 1000, 0),
          queued: writer.queuedSamples,
          sent: await total('sent'),
          rssMiB: memory().rssMiB,
          receiverRssMiB: procRssMiB(receiver.pid),
        });
      }
    }
    clearInterval(ticker);
    const elapsed = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpu0.bench);
    const receiverCpu = procCpuSeconds(receiver.pid) - cpu0.receiver;
    const sent = await total('sent');
    const needed = (hosts * 77) / (intervalMs / 1000);
    const drained = collections.filter((c) => c.drainMs !== undefined);
    const judged = collections.filter((c) => c.at + intervalMs <= elapsed * 1000);
    return {
      receiver: receiverKind,
      shards,
      hosts,
      seconds: round(elapsed, 0),
      intervalMs,
      samplesPerCollection: hosts * 77,
      neededSamplesPerSecond: Math.round(needed),
      sent,
      samplesPerSecond: Math.round(sent / elapsed),
      // While a collection was draining: what the pair (laas, receiver) carries when busy.
      busySamplesPerSecond: drained.length
        ? Math.round(
            (hosts * 77) /
              (quantile(
                drained.map((c) => c.drainMs!),
                0.5,
              ) /
                1000),
          )
        : undefined,
      collections: collections.map(({ sentAtStart: _s, ...c }) => ({ ...c, at: round(c.at / 1000, 1) })),
      // Judged on the collections that had a whole interval to drain before the run ended.
      keptUp: judged.length > 0 && judged.every((c) => c.drainMs !== undefined && c.drainMs < intervalMs) && 0 === (await total('dropped')),
      dropped: await total('dropped'),
      failed: await total('failed'),
      retries: await total('retries'),
      requests: seen.ms.length,
      requestFailures: seen.failures,
      requestBytes: { p50: quantile(seen.bytes, 0.5), p99: quantile(seen.bytes, 0.99), max: Math.max(...seen.bytes) },
      requestMs: { p50: round(quantile(seen.ms, 0.5)), p99: round(quantile(seen.ms, 0.99)), max: round(Math.max(...seen.ms)) },
      // Cores used over the run (2 on the test box): the bench process is laas' side (collect, encode, send) plus the simulated arrivals.
      benchCores: round((cpu.user + cpu.system) / 1e6 / elapsed),
      receiverCores: round(receiverCpu / elapsed),
      loadavg: { before: load0.map((x) => round(x)), after: loadavg().map((x) => round(x)) },
      receiverRssMiBMax: Math.max(...rounds.map((x) => x.receiverRssMiB)),
      benchRssMiBMax: Math.max(...rounds.map((x) => x.rssMiB)),
      timeline: rounds,
      receiverLog: receiver.log(),
    };
  } finally {
    seen.restore();
    await writer.stop();
    await receiver.stop();
  }
}

async function downMode(hosts: number, seconds: number, intervalMs: number, perSend: number, maxQueued: number) {
  // Nobody listens there: every request fails at once (connection refused) and is retried with backoff.
  const port = await freePort();
  const latest = new LatestFacts(3_600_000);
  const { m, total } = metrics();
  const writer = new RemoteWriter(
    {
      url: `http://127.0.0.1:${port}/api/v1/write`,
      intervalMs,
      timeoutMs: 10_000,
      headers: {},
      maxSamplesPerSend: perSend,
      shards: 1,
      maxQueuedSamples: maxQueued,
      maxSeriesPerHost: 5000,
      minBackoffMs: 100,
      maxBackoffMs: 10_000,
    },
    { latest, metrics: m, log },
  );
  const timeline: { at: number; rssMiB: number; heapMiB: number; queued: number; dropped: number }[] = [];
  try {
    global.gc?.();
    const before = memory();
    arrive(latest, hosts, 0);
    const started = performance.now();
    writer.start();
    void writer.collect();
    let r = 0;
    const ticker = setInterval(() => arrive(latest, hosts, ++r), intervalMs);
    while (performance.now() - started < seconds * 1000) {
      await sleep(1000);
      timeline.push({ at: round((performance.now() - started) / 1000, 0), ...memory(), queued: writer.queuedSamples, dropped: await total('dropped') });
    }
    clearInterval(ticker);
    const half = timeline.filter((t) => t.at > seconds / 2);
    return {
      hosts,
      seconds,
      intervalMs,
      maxQueuedSamples: maxQueued,
      before,
      rssMiBMax: Math.max(...timeline.map((t) => t.rssMiB)),
      heapMiBMax: Math.max(...timeline.map((t) => t.heapMiB)),
      secondHalf: {
        rssMiB: { min: Math.min(...half.map((t) => t.rssMiB)), max: Math.max(...half.map((t) => t.rssMiB)) },
        heapMiB: { min: Math.min(...half.map((t) => t.heapMiB)), max: Math.max(...half.map((t) => t.heapMiB)) },
      },
      queuedMax: Math.max(...timeline.map((t) => t.queued)),
      dropped: await total('dropped'),
      retries: await total('retries'),
      timeline,
    };
  } finally {
    await writer.stop();
  }
}

async function main(): Promise<void> {
  const mode = arg('mode', 'encode');
  const hosts = Number(arg('hosts', '20000'));
  const seconds = Number(arg('seconds', '60'));
  const intervalMs = parseDuration(arg('interval', '15s'))!;
  const perSend = Number(arg('per-send', '2000'));
  const maxQueued = Number(arg('max-queued', '2000000'));
  const out = arg('out', 'bench/results/remote-write.json');
  const all = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>) : {};
  const save = (key: string, result: Record<string, unknown>) => {
    const entry = { date: new Date().toISOString(), node: process.version, gc: typeof global.gc === 'function', ...result };
    const { timeline: _t, ...summary } = entry as typeof entry & { timeline?: unknown };
    console.log(JSON.stringify(summary, null, 2));
    all[key] = entry;
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(all, null, 2) + '\n');
  };
  if (mode === 'encode') save(mode, await encodeMode(hosts, perSend));
  else if (mode === 'down') save(mode, await downMode(hosts, seconds, intervalMs, perSend, maxQueued));
  else if (mode === 'send') {
    // Every receiver with every shard count, one after the other in this run, so they are read side by side on the same load.
    const receivers = arg('receiver', 'prometheus').split(',');
    const shardCounts = arg('shards', '1').split(',').map(Number);
    for (const shards of shardCounts)
      for (const receiver of receivers)
        save(`send-${receiver}-shards-${shards}`, await sendMode(receiver, shards, hosts, seconds, intervalMs, perSend, maxQueued));
  } else throw new Error(`--mode encode|send|down, not ${mode}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
