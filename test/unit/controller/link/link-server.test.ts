import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseControllerConfig } from '../../../../controller/config.js';
import { LinkServer, type LinkHandlers, type LinkOptions } from '../../../../controller/link/server.js';
import { createMetrics, type Metrics } from '../../../../controller/metrics.js';
import { sharedTokens } from '../../../../controller/security/agent-tokens.js';
import { decode, encode, silentLogger, type Sample } from '../../../../protocol/index.js';
import { waitFor } from '../../../helpers/procs.js';

const TOKEN = 'link-test-token';

interface Served {
  url: string;
  link: LinkServer;
  metrics: Metrics;
  server: Server;
}
const served: Served[] = [];
const peers: WebSocket[] = [];

/** A LinkServer behind a real HTTP server on 127.0.0.1, as the controller wires it. */
async function serve(opts: Partial<LinkOptions>, handlers: Partial<LinkHandlers> = {}): Promise<Served> {
  const metrics = createMetrics();
  const link = new LinkServer({
    identify: (t) => (t === TOKEN ? { kind: 'shared', token: sharedTokens([{ token: TOKEN, maxHosts: 10 }])[0] } : undefined),
    log: silentLogger,
    metrics,
    handlers: {
      hello: async (_s, h) => ({ hostId: h.agentId, controllerVersion: 'test' }),
      sample: async () => undefined,
      ack: async () => undefined,
      result: async () => undefined,
      disconnected: () => undefined,
      ...handlers,
    },
    ...opts,
  });
  const server = createServer((_req, res) => res.end());
  server.on('upgrade', (req, socket, head) => {
    if (!link.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const s = { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/agent`, link, metrics, server };
  served.push(s);
  return s;
}

afterEach(async () => {
  for (const p of peers.splice(0)) p.terminate();
  for (const s of served.splice(0)) {
    await s.link.close();
    await new Promise((r) => {
      s.server.close(r);
      s.server.closeAllConnections();
    });
  }
});

/** Opens a link; `localAddress` picks the source address (any 127.x.y.z on Linux). */
function open(url: string, localAddress?: string): Promise<{ ws: WebSocket; status?: number; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${TOKEN}` }, ...(localAddress ? { localAddress } : {}) });
    peers.push(ws);
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ ws, status: res.statusCode, retryAfter: res.headers['retry-after'] });
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

async function hello(ws: WebSocket, id: string): Promise<void> {
  const welcomed = new Promise<void>((r) =>
    ws.once('message', (d) => {
      if (decode(d).type === 'welcome') r();
    }),
  );
  ws.send(
    encode('hello', {
      agentId: id,
      agentVersion: 't',
      hostname: id,
      labels: {},
      os: { platform: 'linux', release: 't' },
      intervalMs: 1000,
      services: [],
      actions: [],
      scripts: [],
    }),
  );
  await welcomed;
}

async function counter(
  c: { get(): Promise<{ values: { value: number; labels: Partial<Record<string, string | number>> }[] }> },
  labels: Record<string, string> = {},
): Promise<number> {
  return (await c.get()).values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
}

/** A sample of about `bytes` bytes on the wire (padded with service details), numbered `seq`. */
function bigSample(seq: number, bytes: number): string {
  const service: NonNullable<Sample['service']> = {};
  for (let i = 0; bytes > 0; i++, bytes -= 520) service[`s${i}`] = { up: true, since: 1, detail: 'd'.repeat(Math.min(500, Math.max(0, bytes - 20))) };
  return encode('sample', { seq, ts: Date.now(), trigger: 'interval', service });
}

describe('link server: work waiting per connection is bounded', () => {
  it('a peer flooding samples while the store is slow: frames read but not handled stay within the bound, none lost, order kept', async () => {
    const maxFrames = 50;
    let handled = 0;
    let highWater = 0;
    const seqs: number[] = [];
    const s = await serve(
      { queue: { maxFrames, maxBytes: 1024 * 1024 * 64 }, rate: { perSecond: 1e6, burst: 1e6 } },
      {
        async sample(_session, body) {
          // Read but not handled yet: everything the server took off the socket, minus what went before.
          const queued = (await counter(s.metrics.framesReceived, { type: 'sample' })) - handled;
          highWater = Math.max(highWater, queued);
          seqs.push(body.seq);
          await new Promise((r) => setTimeout(r, 1)); // the slow store
          handled++;
        },
      },
    );
    const { ws } = await open(s.url);
    await hello(ws, 'flood-1');
    // 2 KiB frames, so that one socket read (64 KiB) cannot carry past twice the bound on its own.
    const n = 600;
    for (let i = 0; i < n; i++) ws.send(bigSample(i, 2048));
    await waitFor(`all ${n} samples handled`, () => handled === n, 60_000);
    expect(seqs).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(highWater).toBeLessThanOrEqual(2 * maxFrames);
    expect(await counter(s.metrics.readsPaused)).toBeGreaterThan(0);
    expect(await counter(s.metrics.framesDropped)).toBe(0);
    expect(await counter(s.metrics.framesQueued)).toBe(0);
    expect(ws.readyState).toBe(WebSocket.OPEN);
  }, 90_000);

  it('the bytes held are bounded too: large results on a slow store, each acked in order', async () => {
    const maxBytes = 1024 * 1024;
    const size = 100 * 1024;
    let handled = 0;
    let highWater = 0;
    const s = await serve(
      { queue: { maxFrames: 10_000, maxBytes }, rate: { perSecond: 1e6, burst: 1e6 } },
      {
        async result() {
          highWater = Math.max(highWater, ((await counter(s.metrics.framesReceived, { type: 'result' })) - handled) * size);
          await new Promise((r) => setTimeout(r, 5));
          handled++;
        },
      },
    );
    const { ws } = await open(s.url);
    await hello(ws, 'results-1');
    const acks: string[] = [];
    ws.on('message', (d) => {
      const m = decode(d);
      if (m.type === 'ack') acks.push(m.body.id);
    });
    const n = 60;
    const result = (i: number) => {
      const r = {
        id: `r.${i}`,
        action: 'script.run',
        outcome: 'succeeded' as const,
        exitCode: 0,
        signal: null,
        stdout: '',
        stderr: '',
        truncated: false,
        startedAt: 1,
        durationMs: 1,
      };
      const pad = size - Buffer.byteLength(encode('result', r));
      return encode('result', { ...r, stdout: 'x'.repeat(pad) });
    };
    expect(Buffer.byteLength(result(0))).toBe(size);
    for (let i = 0; i < n; i++) ws.send(result(i));
    await waitFor(`all ${n} results acked`, () => acks.length === n, 60_000);
    expect(acks).toEqual(Array.from({ length: n }, (_, i) => `r.${i}`));
    expect(highWater).toBeLessThanOrEqual(2 * maxBytes);
    expect(await counter(s.metrics.framesDropped)).toBe(0);
  }, 90_000);

  it('a link paused for its full queue is not cut as not answering pings: its pong waits unread behind the frames', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let handled = 0;
    const s = await serve(
      { heartbeatMs: 100, queue: { maxFrames: 40, maxBytes: 64 * 1024 * 1024 }, rate: { perSecond: 1e6, burst: 1e6 } },
      {
        async sample() {
          await gate;
          handled++;
        },
      },
    );
    const { ws } = await open(s.url);
    await hello(ws, 'slow-1');
    for (let i = 0; i < 400; i++) ws.send(bigSample(i, 2048));
    await waitFor('reading paused', async () => (await counter(s.metrics.readsPaused)) > 0);
    // Several heartbeats pass while the store holds every handler (bounded: 40 pings sent, each to a paused link).
    let pings = 0;
    ws.on('ping', () => {
      pings++;
    });
    await waitFor('pings to the paused link (or its cut)', () => pings >= 3 || ws.readyState !== WebSocket.OPEN, 20_000, 20);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    release();
    await waitFor('all 400 samples handled', () => handled === 400, 20_000);
    expect(await counter(s.metrics.peersCut)).toBe(0);
    expect(await counter(s.metrics.framesDropped)).toBe(0);
    expect(ws.readyState).toBe(WebSocket.OPEN);
  }, 90_000);
});

describe('link server: connections waiting for their welcome, per source address', () => {
  it('one address may hold only its share of pending hellos: the next gets 429 with Retry-After, others still connect', async () => {
    const s = await serve({ maxPendingHellosPerSource: 3 });
    const quiet = await Promise.all([1, 2, 3].map(() => open(s.url, '127.0.0.1')));
    expect(quiet.map((q) => q.status)).toEqual([undefined, undefined, undefined]);
    const refused = await open(s.url, '127.0.0.1');
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect(await counter(s.metrics.upgradesRejected, { reason: 'source-busy' })).toBe(1);
    // Another address is not locked out by the first.
    const other = await open(s.url, '127.0.0.2');
    expect(other.status).toBeUndefined();
    await hello(other.ws, 'other-1');
    // A welcome frees a slot of its address.
    await hello(quiet[0].ws, 'quiet-1');
    const again = await open(s.url, '127.0.0.1');
    expect(again.status).toBeUndefined();
    await hello(again.ws, 'again-1');
    // So does a pending link that closes.
    quiet[1].ws.terminate();
    await waitFor('a closed pending link to free its slot', async () => (await open(s.url, '127.0.0.1')).status === undefined, 5000);
  });
});

describe('controller.json link bounds', () => {
  it('has defaults, and refuses a queue that cannot hold one largest frame', () => {
    expect(parseControllerConfig({}, 'c.json').link).toMatchObject({ maxQueuedFrames: 256, maxQueuedBytes: 4 * 1024 * 1024, maxPendingHellosPerSource: 200 });
    expect(parseControllerConfig({ link: { maxQueuedFrames: 10, maxPendingHellosPerSource: 500 } }, 'c.json').link).toMatchObject({
      maxQueuedFrames: 10,
      maxPendingHellosPerSource: 500,
    });
    expect(() => parseControllerConfig({ link: { maxQueuedBytes: 1000 } }, 'c.json')).toThrow(/c\.json \/link\/maxQueuedBytes: .*1048576/);
    expect(() => parseControllerConfig({ link: { maxPendingHellosPerSource: 0 } }, 'c.json')).toThrow(/\/link\/maxPendingHellosPerSource/);
  });
});
