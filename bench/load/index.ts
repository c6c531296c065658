/**
 * A simulated-agent load generator: N lean protocol-speaking clients (real `ws` WebSockets, the
 * real hello/welcome/sample/run/result/ack) spread over worker processes, against one or more
 * controller URLs. 127.0.0.1 only; bounded in time (`maxSeconds`) and count (`agents`).
 *
 *   const load = await startLoad({ urls: ['http://127.0.0.1:7070'], token, agents: 20_000 });
 *   await load.waitConnected(20_000, 120_000);
 *   const s = await load.stats();        // connected, samples sent, dispatch latencies, errors
 *   await load.stop();
 *
 * Many links from loopback to one port run out of ephemeral ports (one range per source
 * address), so clients are spread over several source addresses 127.0.0.1, 127.0.0.2, … —
 * any 127/8 address is local on Linux.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { LoadStats, ParentToWorker, WorkerStart, WorkerToParent } from './types.js';

export type { LoadStats } from './types.js';

export interface LoadOptions {
  /** Controller base URLs (http://host:port); clients are dealt round-robin over them. */
  urls: string[];
  token: string;
  agents: number;
  /** Worker processes (default: one per 5,000 agents, at least 1, at most 4). */
  workers?: number;
  /** Sample interval of each client (default 10 s), phases spread evenly. */
  intervalMs?: number;
  /** Service faults injected per second over the whole fleet (default 0). */
  faultsPerSecond?: number;
  /** Agent ids are `${idPrefix}${i}` (default "load-"). */
  idPrefix?: string;
  labelsFor?: (i: number) => Record<string, string>;
  /** Services besides "svc" each client reports (always up). */
  extraServices?: string[];
  /** Connection attempts in flight per worker (default 200). */
  connectConcurrency?: number;
  /** Workers exit after this long whatever happens (default 1 h). */
  maxSeconds?: number;
}

export interface LoadHandle {
  readonly workers: number;
  readonly sourceAddresses: string[];
  /** Current counters summed over workers; dispatch latencies are every one seen so far. */
  stats(): Promise<LoadStats>;
  /** Resolves when at least `n` clients are connected; rejects after `timeoutMs`. `progress` hears the count every ~10 s. */
  waitConnected(n: number, timeoutMs: number, progress?: (s: LoadStats) => void): Promise<LoadStats>;
  setFaultsPerSecond(perSecond: number): void;
  stop(): Promise<LoadStats>;
}

const ROLES = ['web', 'db', 'cache', 'worker'];

/** Labels a realistic fleet might have: four roles, two environments, two data centres. */
export function defaultLabels(i: number): Record<string, string> {
  return { role: ROLES[i % 4], env: i % 5 === 0 ? 'staging' : 'prod', dc: i % 2 ? 'b' : 'a' };
}

/** How many loopback source addresses N links to one port need, from the ephemeral port range. */
export function sourceAddressesFor(linksPerTarget: number): string[] {
  let range = 28_000;
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (hi > lo) range = hi - lo + 1;
  } catch {
    /* not Linux: assume the common default */
  }
  // Use at most 70% of a range per address: TIME_WAIT from earlier runs holds some ports.
  const n = Math.max(1, Math.ceil(linksPerTarget / (range * 0.7)));
  return Array.from({ length: n }, (_, k) => `127.0.0.${k + 1}`);
}

function emptyStats(): LoadStats {
  return {
    clients: 0,
    connected: 0,
    everConnected: 0,
    connectAttempts: 0,
    connectFailures: 0,
    drops: 0,
    samplesSent: 0,
    faultsInjected: 0,
    runsReceived: 0,
    runsUnmatched: 0,
    resultsSent: 0,
    acksReceived: 0,
    collectsReceived: 0,
    dispatchMs: [],
    errors: {},
  };
}

function sum(parts: LoadStats[], dispatchMs: number[]): LoadStats {
  const out = emptyStats();
  for (const p of parts) {
    for (const k of Object.keys(out) as (keyof LoadStats)[]) {
      if (typeof out[k] === 'number') (out as unknown as Record<string, number>)[k] += p[k] as number;
    }
    for (const [k, v] of Object.entries(p.errors)) out.errors[k] = (out.errors[k] ?? 0) + v;
  }
  out.dispatchMs = [...dispatchMs];
  return out;
}

export async function startLoad(opts: LoadOptions): Promise<LoadHandle> {
  if (opts.agents < 1 || opts.agents > 200_000) throw new Error(`agents must be 1..200000, got ${opts.agents}`);
  for (const u of opts.urls) {
    const host = new URL(u).hostname;
    if (!/^127\./.test(host) && host !== 'localhost') throw new Error(`the load generator talks to loopback only, not ${u}`);
  }
  const nWorkers = Math.max(1, Math.min(opts.workers ?? Math.min(4, Math.ceil(opts.agents / 5000)), opts.agents));
  const addresses = sourceAddressesFor(Math.ceil(opts.agents / opts.urls.length));
  const labelsFor = opts.labelsFor ?? defaultLabels;
  const prefix = opts.idPrefix ?? 'load-';
  const workerFile = fileURLToPath(new URL('./worker.js', import.meta.url));
  const latest: LoadStats[] = [];
  const dispatchMs: number[] = [];
  const waiting: (() => void)[] = [];
  const finals: Promise<void>[] = [];
  const children: ChildProcess[] = [];

  for (let w = 0; w < nWorkers; w++) {
    const ids: string[] = [];
    const labels: Record<string, string>[] = [];
    for (let i = w; i < opts.agents; i += nWorkers) {
      ids.push(`${prefix}${i}`);
      labels.push(labelsFor(i));
    }
    const child = fork(workerFile, [], {
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, LAAS_LOAD_MAX_SECONDS: String(opts.maxSeconds ?? 3600) },
    });
    children.push(child);
    latest.push({ ...emptyStats(), clients: ids.length });
    let resolveFinal!: () => void;
    finals.push(
      new Promise<void>((r) => {
        resolveFinal = r;
        child.once('exit', () => r());
      }),
    );
    child.on('message', (m: WorkerToParent) => {
      dispatchMs.push(...m.stats.dispatchMs);
      latest[w] = m.stats;
      if (m.type === 'final') resolveFinal();
      waiting.splice(0).forEach((f) => f());
    });
    const config: WorkerStart = {
      urls: opts.urls,
      token: opts.token,
      ids,
      labels,
      localAddresses: addresses,
      intervalMs: opts.intervalMs ?? 10_000,
      tickMs: 50,
      faultsPerSecond: (opts.faultsPerSecond ?? 0) / nWorkers,
      connectConcurrency: opts.connectConcurrency ?? 200,
      extraServices: opts.extraServices ?? [],
    };
    child.send({ type: 'start', config } satisfies ParentToWorker);
  }

  const alive = () => children.filter((c) => c.exitCode === null && c.signalCode === null && c.connected);
  async function stats(): Promise<LoadStats> {
    const live = alive();
    const got = new Promise<void>((resolve) => {
      let left = live.length;
      if (left === 0) return resolve();
      const t = setTimeout(resolve, 5000);
      const one = () => {
        if (--left <= 0) {
          clearTimeout(t);
          resolve();
        } else waiting.push(one);
      };
      waiting.push(one);
    });
    for (const c of live) c.send({ type: 'stats' } satisfies ParentToWorker);
    await got;
    return sum(latest, dispatchMs);
  }

  return {
    workers: nWorkers,
    sourceAddresses: addresses,
    stats,
    async waitConnected(n, timeoutMs, progress) {
      const until = Date.now() + timeoutMs;
      let told = Date.now();
      for (;;) {
        const s = await stats();
        if (s.connected >= n) return s;
        if (progress && Date.now() - told >= 10_000) {
          told = Date.now();
          progress(s);
        }
        if (Date.now() > until) throw new Error(`only ${s.connected} of ${n} clients connected after ${timeoutMs} ms (errors: ${JSON.stringify(s.errors)})`);
        if (alive().length === 0) throw new Error('every load worker exited');
        await new Promise((r) => setTimeout(r, 500));
      }
    },
    setFaultsPerSecond(perSecond) {
      for (const c of alive()) c.send({ type: 'faults', perSecond: perSecond / nWorkers } satisfies ParentToWorker);
    },
    async stop() {
      for (const c of alive()) c.send({ type: 'stop' } satisfies ParentToWorker);
      const all = Promise.all(finals);
      const t = new Promise((r) => setTimeout(r, 5000));
      await Promise.race([all, t]);
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      return sum(latest, dispatchMs);
    },
  };
}
