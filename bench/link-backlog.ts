/**
 * What one agent connection can make the controller hold when it sends faster than the store
 * takes its frames: a peer sends samples at its frame budget while each sample's handler waits
 * on a slow store. Runs the controller's LinkServer in this process behind a real HTTP server on
 * 127.0.0.1; the peer is a child process (this file with --peer), so what it buffers is not
 * counted here. Every `--every` seconds it reads the frames read but not yet handled (frames
 * received minus handled) and this process's live heap after a forced GC.
 *
 *   npm run build && node --expose-gc dist/bench/link-backlog.js [--seconds 60] [--rate 1000]
 *     [--store-ms 10] [--bytes 2048] [--every 5] [--out FILE]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { LinkServer } from '../controller/link/server.js';
import { sharedTokens } from '../controller/security/agent-tokens.js';
import { createMetrics } from '../controller/metrics.js';
import { decode, encode, silentLogger, type Sample } from '../protocol/index.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = 1024 * 1024;

function sample(seq: number, bytes: number): string {
  const service: NonNullable<Sample['service']> = {};
  for (let i = 0; bytes > 0; i++, bytes -= 520) service[`s${i}`] = { up: true, since: 1, detail: 'd'.repeat(Math.min(500, Math.max(0, bytes - 20))) };
  return encode('sample', { seq, ts: Date.now(), trigger: 'interval', service });
}

async function main(): Promise<void> {
  const seconds = Number(arg('seconds', '60'));
  const rate = Number(arg('rate', '1000'));
  const storeMs = Number(arg('store-ms', '10'));
  const bytes = Number(arg('bytes', '2048'));
  const every = Number(arg('every', '5'));
  const out = arg('out', 'bench/results/link-backlog.json');
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc, so the heap is read after a collection');

  const metrics = createMetrics();
  let handled = 0;
  const link = new LinkServer({
    identify: () => ({ kind: 'shared', token: sharedTokens([{ token: 'bench', maxHosts: 10 }])[0] }),
    log: silentLogger,
    metrics,
    // The budget the peer keeps to: it floods "within the rules".
    rate: { perSecond: rate, burst: rate * 2 },
    handlers: {
      hello: async (_s, h) => ({ hostId: h.agentId, controllerVersion: 'bench' }),
      sample: async () => {
        await sleep(storeMs);
        handled++;
      },
      ack: async () => undefined,
      result: async () => undefined,
      disconnected: () => undefined,
    },
  });
  const server = createServer((_req, res) => res.end());
  server.on('upgrade', (req, socket, head) => {
    if (!link.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/agent`;

  const peer = spawn(
    process.execPath,
    [fileURLToPath(import.meta.url), '--peer', url, '--rate', String(rate), '--bytes', String(bytes), '--seconds', String(seconds)],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const peerDone = new Promise((r) => peer.once('exit', r));
  await waitForHost(link);

  const received = async () => (await metrics.framesReceived.get()).values.reduce((n, v) => n + v.value, 0) - 1; // minus the hello
  gc();
  const heapAtStart = process.memoryUsage().heapUsed;
  const bufsAtStart = process.memoryUsage().arrayBuffers;
  const rows: { t: number; received: number; handled: number; queued: number; heapMiB: number; buffersMiB: number }[] = [];
  const started = Date.now();
  let nextReport = every * 1000;
  let maxQueued = 0;
  while (Date.now() - started < seconds * 1000) {
    const q = (await received()) - handled;
    maxQueued = Math.max(maxQueued, q);
    if (Date.now() - started >= nextReport) {
      nextReport += every * 1000;
      gc();
      const r = await received();
      const mem = process.memoryUsage();
      rows.push({
        t: Math.round((Date.now() - started) / 1000),
        received: r,
        handled,
        queued: r - handled,
        heapMiB: Math.round(((mem.heapUsed - heapAtStart) / MiB) * 10) / 10,
        buffersMiB: Math.round(((mem.arrayBuffers - bufsAtStart) / MiB) * 10) / 10,
      });
      process.stdout.write(`${JSON.stringify(rows[rows.length - 1])}\n`);
    }
    await sleep(10);
  }
  const dropped = (await metrics.framesDropped.get()).values.reduce((n, v) => n + v.value, 0);
  const result = { at: new Date().toISOString(), node: process.version, seconds, rate, storeMs, bytes, maxQueued, dropped, rows };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`max frames read and not handled: ${maxQueued}; dropped: ${dropped}; written to ${out}\n`);
  peer.kill();
  await peerDone;
  await link.close();
  await new Promise((r) => {
    server.close(r);
    server.closeAllConnections();
  });
}

async function waitForHost(link: LinkServer): Promise<void> {
  for (let i = 0; i < 500 && !link.isConnected('bench-1'); i++) await sleep(20);
  if (!link.isConnected('bench-1')) throw new Error('the peer did not connect within 10 s');
}

/** The peer: hello, then samples at `rate` per second in 10 ms ticks, never past its budget. */
async function peer(url: string): Promise<void> {
  const rate = Number(arg('rate', '1000'));
  const bytes = Number(arg('bytes', '2048'));
  const seconds = Number(arg('seconds', '60'));
  const ws = new WebSocket(url, { headers: { authorization: 'Bearer bench' } });
  await new Promise((r) => ws.once('open', r));
  const welcomed = new Promise<void>((r) =>
    ws.once('message', (d) => {
      if (decode(d).type === 'welcome') r();
    }),
  );
  ws.send(
    encode('hello', {
      agentId: 'bench-1',
      agentVersion: 'bench',
      hostname: 'bench-1',
      labels: {},
      os: { platform: 'linux', release: 'bench' },
      intervalMs: 1000,
      services: [],
      actions: [],
      scripts: [],
    }),
  );
  await welcomed;
  const started = Date.now();
  let sent = 0;
  while (Date.now() - started < seconds * 1000 && ws.readyState === WebSocket.OPEN) {
    const due = Math.floor(((Date.now() - started) / 1000) * rate);
    while (sent < due) ws.send(sample(sent++, bytes));
    await sleep(10);
  }
}

const peerUrl = arg('peer', '');
(peerUrl ? peer(peerUrl) : main()).catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
