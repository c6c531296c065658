/**
 * One load-generator worker process (forked by bench/load/index.ts): many lean simulated agents,
 * each a real `ws` WebSocket speaking the real protocol (hello → welcome, periodic samples, run →
 * result → ack, collect → sample). It keeps no per-client timer: one tick sends the samples that
 * are due, so 10,000 clients cost a few MB and little CPU.
 *
 * Talks to its parent over IPC only: `start` in, `stats` out (on request and at the end).
 */
import WebSocket from 'ws';
import { decode, encode, type BodyOf, type Sample } from '../../protocol/index.js';
import type { LoadStats, WorkerStart, WorkerToParent, ParentToWorker } from './types.js';

interface Client {
  id: string;
  url: string;
  localAddress: string;
  labels: Record<string, string>;
  ws?: WebSocket;
  welcomed: boolean;
  seq: number;
  /** Next periodic sample due (ms epoch). */
  nextAt: number;
  svcUp: boolean;
  svcSince: number;
  /** When the sample that showed the fault was sent (ms epoch), until a run arrives. */
  faultSentAt?: number;
  /** Reconnect no earlier than this (after a refusal or a drop). */
  retryAt: number;
  connecting: boolean;
  attempts: number;
}

const stats: LoadStats = {
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
let cfg: WorkerStart;
const clients: Client[] = [];
let tick: NodeJS.Timeout | undefined;
let stopping = false;
let inFlight = 0;

function bump(key: string): void {
  stats.errors[key] = (stats.errors[key] ?? 0) + 1;
}

function rand(min: number, max: number): number {
  return Math.round((min + Math.random() * (max - min)) * 10) / 10;
}

/** A realistic sample: cpu, memory, two mounts, one interface, the watched services. */
function sampleOf(c: Client, trigger: Sample['trigger']): BodyOf<'sample'> {
  const now = Date.now();
  const services: NonNullable<Sample['service']> = { svc: { up: c.svcUp, since: c.svcSince } };
  for (const s of cfg.extraServices) services[s] = { up: true, since: c.svcSince };
  return {
    seq: c.seq++,
    ts: now,
    trigger,
    cpu: { usage: rand(2, 60), load1: rand(0, 4), load5: rand(0, 3), load15: rand(0, 2) },
    memory: { usedPercent: rand(20, 70), availableBytes: 4e9, totalBytes: 8e9 },
    disk: {
      '/': { usedPercent: rand(20, 60), freeBytes: 2e10, totalBytes: 5e10 },
      '/var': { usedPercent: rand(10, 50), freeBytes: 5e10, totalBytes: 1e11 },
    },
    net: { eth0: { rxBytesPerSec: rand(1e3, 1e6), txBytesPerSec: rand(1e3, 1e6) } },
    service: services,
  };
}

function send(c: Client, text: string): boolean {
  if (!c.ws || c.ws.readyState !== WebSocket.OPEN) return false;
  c.ws.send(text);
  return true;
}

function sendSample(c: Client, trigger: Sample['trigger']): void {
  if (send(c, encode('sample', sampleOf(c, trigger)))) stats.samplesSent++;
}

function connect(c: Client): void {
  c.connecting = true;
  inFlight++;
  stats.connectAttempts++;
  c.attempts++;
  const ws = new WebSocket(`${c.url.replace(/^http/, 'ws')}/v1/agent`, {
    headers: { authorization: `Bearer ${cfg.token}` },
    localAddress: c.localAddress,
    perMessageDeflate: false,
    handshakeTimeout: 30_000,
  });
  c.ws = ws;
  let opened = false;
  const settle = () => {
    if (c.connecting) {
      c.connecting = false;
      inFlight--;
    }
  };
  ws.on('open', () => {
    opened = true;
    ws.send(
      encode('hello', {
        agentId: c.id,
        agentVersion: 'load-1',
        hostname: c.id,
        labels: c.labels,
        os: { platform: 'linux', release: 'sim' },
        intervalMs: cfg.intervalMs,
        instance: `${c.id}-${process.pid}`,
        services: ['svc', ...cfg.extraServices],
        actions: ['service.restart'],
        scripts: [],
      }),
    );
  });
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      bump('binary-frame');
      return;
    }
    let msg;
    try {
      msg = decode(data);
    } catch (e) {
      bump(`bad-frame: ${(e as Error).message.slice(0, 80)}`);
      return;
    }
    switch (msg.type) {
      case 'welcome':
        if (!c.welcomed) {
          c.welcomed = true;
          stats.connected++;
          stats.everConnected++;
          settle();
          c.attempts = 0;
          // Spread samples evenly over the interval: a random phase per client.
          c.nextAt = Date.now() + Math.random() * cfg.intervalMs;
          sendSample(c, 'startup');
        }
        return;
      case 'run': {
        const now = Date.now();
        stats.runsReceived++;
        if (c.faultSentAt !== undefined) {
          stats.dispatchMs.push(now - c.faultSentAt);
          c.faultSentAt = undefined;
        } else {
          stats.runsUnmatched++;
        }
        // The restart "works" at once: result, then the service is up again (which verifies the heal).
        if (
          send(
            c,
            encode('result', {
              id: msg.body.id,
              action: msg.body.action,
              outcome: 'succeeded',
              exitCode: 0,
              signal: null,
              stdout: '',
              stderr: '',
              truncated: false,
              startedAt: now,
              durationMs: 1,
            }),
          )
        )
          stats.resultsSent++;
        c.svcUp = true;
        c.svcSince = Date.now();
        sendSample(c, 'service-change');
        return;
      }
      case 'ack':
        stats.acksReceived++;
        return;
      case 'collect':
        stats.collectsReceived++;
        sendSample(c, 'request');
        return;
      default:
        bump(`unexpected ${msg.type}`);
    }
  });
  ws.on('unexpected-response', (_req, res) => {
    bump(`http ${res.statusCode}`);
    ws.terminate();
  });
  ws.on('error', (e) => bump(`socket: ${(e as NodeJS.ErrnoException).code ?? e.message.slice(0, 60)}`));
  ws.on('close', () => {
    if (c.welcomed) {
      stats.connected--;
      stats.drops++;
    }
    if (!opened || !c.welcomed) stats.connectFailures++;
    c.welcomed = false;
    c.ws = undefined;
    c.faultSentAt = undefined;
    settle();
    // Back off with jitter, like a real agent: a refused herd must not come back all at once.
    c.retryAt = Date.now() + Math.min(10_000, 250 * 2 ** Math.min(c.attempts, 6)) * (0.5 + Math.random());
  });
}

function onTick(): void {
  if (stopping) return;
  const now = Date.now();
  // Faults: a share of this worker's rate each tick, on connected clients whose service is up.
  const want = (cfg.faultsPerSecond * cfg.tickMs) / 1000;
  let faults = Math.floor(want) + (Math.random() < want % 1 ? 1 : 0);
  for (let tries = 0; faults > 0 && tries < 20 && clients.length; tries++) {
    const c = clients[Math.floor(Math.random() * clients.length)];
    if (!c.welcomed || !c.svcUp || c.faultSentAt !== undefined) continue;
    c.svcUp = false;
    c.svcSince = now;
    c.faultSentAt = now;
    sendSample(c, 'service-change');
    stats.faultsInjected++;
    faults--;
  }
  for (const c of clients) {
    if (c.welcomed) {
      if (now >= c.nextAt) {
        c.nextAt += cfg.intervalMs;
        if (c.nextAt < now) c.nextAt = now + cfg.intervalMs;
        sendSample(c, 'interval');
      }
    } else if (!c.ws && !c.connecting && now >= c.retryAt && inFlight < cfg.connectConcurrency) {
      connect(c);
    }
  }
}

function report(final: boolean): void {
  const msg: WorkerToParent = { type: final ? 'final' : 'stats', stats: { ...stats, clients: clients.length } };
  process.send!(msg);
  // Latencies are sent once each: the parent keeps the whole list.
  stats.dispatchMs = [];
}

process.on('message', (m: ParentToWorker) => {
  if (m.type === 'start') {
    cfg = m.config;
    for (let i = 0; i < cfg.ids.length; i++) {
      clients.push({
        id: cfg.ids[i],
        url: cfg.urls[i % cfg.urls.length],
        localAddress: cfg.localAddresses[i % cfg.localAddresses.length],
        labels: cfg.labels[i],
        welcomed: false,
        seq: 0,
        nextAt: 0,
        svcUp: true,
        svcSince: Date.now(),
        retryAt: 0,
        connecting: false,
        attempts: 0,
      });
    }
    tick = setInterval(onTick, cfg.tickMs);
    onTick();
  } else if (m.type === 'stats') {
    report(false);
  } else if (m.type === 'faults') {
    cfg.faultsPerSecond = m.perSecond;
  } else if (m.type === 'stop') {
    stopping = true;
    clearInterval(tick);
    for (const c of clients) c.ws?.terminate();
    report(true);
    setTimeout(() => process.exit(0), 200).unref();
  }
});
// The parent went away: do not linger.
process.on('disconnect', () => process.exit(0));
// Bounded in time whatever the parent does.
setTimeout(() => process.exit(3), Number(process.env.LAAS_LOAD_MAX_SECONDS ?? 3600) * 1000).unref();
