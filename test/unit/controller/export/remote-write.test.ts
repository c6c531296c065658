import { getEventListeners } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { LatestFacts, shardOf } from '../../../../controller/export/latest-facts.js';
import { RemoteWriter, type RemoteWriteMetrics } from '../../../../controller/export/remote-write.js';
import type { Shard } from '../../../../controller/export/shard.js';
import { decodeWriteRequest } from '../../../../controller/export/write-request.js';
import type { Logger } from '../../../../protocol/index.js';
import { everyFact } from '../../../helpers/every-fact.js';
import { waitFor } from '../../../helpers/procs.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as unknown as Logger;

function metrics(): RemoteWriteMetrics {
  const registers = [new Registry()];
  const counter = (name: string) => new Counter({ name, help: name, labelNames: ['remote'], registers });
  return {
    sent: counter('sent'),
    failed: counter('failed'),
    dropped: counter('dropped'),
    retries: counter('retries'),
    queued: new Gauge({ name: 'queued', help: 'queued', labelNames: ['remote'], registers }),
  };
}
const total = async (c: Counter<'remote'>) => (await c.get()).values.reduce((a, v) => a + v.value, 0);

/** A receiver answering every request with `status`, counting them. */
async function receiver(status: number): Promise<{ url: string; requests: () => number; server: Server }> {
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      n++;
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/write`, requests: () => n, server };
}

/**
 * A receiver that decodes every request and refuses some with 503 (`fail(n, series, accepted)` of the
 * n-th request, from 0), each answer a few milliseconds late so that the shards' requests overlap;
 * it keeps the accepted requests in the order it accepted them, and the most requests it had at once.
 */
type Received = { host: string; key: string; timestamp: number };
async function recordingReceiver(fail: (n: number, series: Received[], accepted: Received[][]) => boolean) {
  let n = 0;
  let open = 0;
  let maxOpen = 0;
  const accepted: Received[][] = [];
  const server = createServer((req, res) => {
    open++;
    maxOpen = Math.max(maxOpen, open);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const series = decodeWriteRequest(Buffer.concat(chunks)).map((t) => ({
        host: t.labels.find((l) => l.name === 'host')!.value,
        key: t.labels.map((l) => `${l.name}=${l.value}`).join(),
        timestamp: t.samples[0].timestamp,
      }));
      const refuse = fail(n++, series, accepted);
      setTimeout(() => {
        if (!refuse) accepted.push(series);
        open--;
        res.writeHead(refuse ? 503 : 204).end();
      }, n % 4);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/write`;
  return { url, server, accepted, requests: () => n, maxOpen: () => maxOpen };
}

// 13 hosts: a collection's batch count is then no multiple of 4 shards, so a round-robin that
// ignored the host would not put each series on the same shard every time by chance.
/** The series one host of every fact (test/helpers/every-fact.ts) makes. */
const SERIES_PER_HOST = 78;
const HOSTS = Array.from({ length: 13 }, (_, i) => `host-${i}`);

describe('RemoteWriter', () => {
  let writer: RemoteWriter | undefined;
  let server: Server | undefined;
  afterEach(async () => {
    await writer?.stop();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    writer = server = undefined;
  });

  function start(
    url: string,
    m: RemoteWriteMetrics,
    queue: { maxSamplesPerSend: number; maxQueuedSamples: number; shards?: number; minBackoffMs?: number; maxBackoffMs?: number },
    hosts = ['web-1'],
    clock?: () => number,
  ): RemoteWriter {
    const latest = new LatestFacts(3_600_000);
    hosts.forEach((h, i) => latest.record(h, { seq: 0, ts: 0, trigger: 'interval', ...everyFact(i) }, Date.now()));
    // An hour's interval: collect() is called by the test, not a timer.
    const target = {
      url,
      intervalMs: 3_600_000,
      timeoutMs: 5000,
      headers: {},
      maxSeriesPerHost: 10_000,
      minBackoffMs: 20,
      maxBackoffMs: 50,
      shards: 1,
      ...queue,
    };
    writer = new RemoteWriter(target, { latest, metrics: m, log: quiet, ...(clock ? { clock } : {}) });
    writer.start();
    return writer;
  }

  it('leaves no abort listener behind each time its queue runs dry', async () => {
    const r = await receiver(204);
    server = r.server;
    const m = metrics();
    const w = start(r.url, m, { maxSamplesPerSend: 10_000, maxQueuedSamples: 100_000 });
    for (let i = 1; i <= 15; i++) {
      await w.collect();
      await waitFor(`request ${i}`, () => r.requests() >= i && w.queuedSamples === 0, 5000, 5);
    }
    expect(await total(m.sent)).toBeGreaterThan(15 * 50);
    // The send loop's own signal: one listener for the wait in progress at most, not one per idle spell.
    const signal = (w as unknown as { stopping: AbortController }).stopping.signal;
    expect(getEventListeners(signal, 'abort').length).toBeLessThanOrEqual(1);
  });

  it('keeps what waits, the batch being retried included, within maxQueuedSamples while the receiver fails', async () => {
    const r = await receiver(503);
    server = r.server;
    const m = metrics();
    const w = start(r.url, m, { maxSamplesPerSend: 10, maxQueuedSamples: 30 });
    await w.collect();
    await waitFor('a batch retried', async () => (await total(m.retries)) > 0, 5000, 5);
    let dropped = await total(m.dropped);
    for (let i = 0; i < 5; i++) {
      await w.collect();
      expect(w.queuedSamples).toBeLessThanOrEqual(30);
      const now = await total(m.dropped);
      expect(now).toBeGreaterThan(dropped);
      dropped = now;
    }
    expect(await total(m.sent)).toBe(0);
  });

  it('keeps every series in order across shards while requests fail and are retried, each request from one shard', async () => {
    // Every third request refused: retries and newer collections overlap in every shard. And the
    // first collection's batch of host-0 is refused until a batch of the last collection has been
    // accepted: its shard stalls while the others run ahead, so a series sent through any other
    // shard than its host's would arrive out of order.
    const stalled = (series: Received[], accepted: Received[][]) =>
      series.some((s) => s.host === 'host-0' && s.timestamp === 1_001_000) && !accepted.some((req) => req.some((s) => s.timestamp === 1_005_000));
    const r = await recordingReceiver((n, series, accepted) => n % 3 === 0 || stalled(series, accepted));
    server = r.server;
    const m = metrics();
    let t = 1_000_000;
    const w = start(r.url, m, { maxSamplesPerSend: 50, maxQueuedSamples: 1_000_000, shards: 4, minBackoffMs: 1, maxBackoffMs: 5 }, HOSTS, () => (t += 1000));
    // Collections one after another without waiting for the sends: a collection's batches queue behind the last one's retries.
    for (let i = 0; i < 5; i++) await w.collect();
    await waitFor('every batch delivered', () => w.queuedSamples === 0, 10_000, 5);
    const series = r.accepted.flat();
    const perCollection = series.length / 5;
    expect(perCollection).toBe(HOSTS.length * SERIES_PER_HOST);
    expect(await total(m.sent)).toBe(series.length);
    expect(await total(m.retries)).toBeGreaterThan(0);
    expect(await total(m.dropped)).toBe(0);
    // Per series: every collection's sample, in the order they were taken (a retried batch was never passed).
    const seen = new Map<string, number[]>();
    for (const s of series) seen.set(s.key, [...(seen.get(s.key) ?? []), s.timestamp]);
    expect(seen.size).toBe(perCollection);
    for (const [key, ts] of seen) expect(ts, key).toEqual([1_001_000, 1_002_000, 1_003_000, 1_004_000, 1_005_000]);
    // A request holds the series of one shard's hosts only, and the hosts spread over every shard.
    for (const req of r.accepted) expect(new Set(req.map((s) => shardOf(s.host, 4))).size).toBe(1);
    expect(new Set(HOSTS.map((h) => shardOf(h, 4))).size).toBe(4);
    expect(r.maxOpen()).toBeGreaterThan(1);
  });

  it('holds maxQueuedSamples overall, split between its shards, while the receiver fails', async () => {
    const r = await receiver(503);
    server = r.server;
    const m = metrics();
    const w = start(r.url, m, { maxSamplesPerSend: 10, maxQueuedSamples: 45, shards: 4 }, HOSTS);
    const shards = (w as unknown as { shards: Shard[] }).shards;
    expect(shards.map((s) => s.maxQueuedSamples)).toEqual([12, 11, 11, 11]);
    let dropped = 0;
    for (let i = 0; i < 5; i++) {
      await w.collect();
      expect(w.queuedSamples).toBeLessThanOrEqual(45);
      for (const s of shards) expect(s.queuedSamples).toBeLessThanOrEqual(s.maxQueuedSamples);
      const now = await total(m.dropped);
      expect(now).toBeGreaterThan(dropped);
      dropped = now;
    }
    expect((await m.queued.get()).values[0].value).toBeLessThanOrEqual(45);
    expect(await total(m.sent)).toBe(0);
  });

  it('with one shard sends one request at a time, the batches as collected', async () => {
    const r = await recordingReceiver(() => false);
    server = r.server;
    const m = metrics();
    const w = start(r.url, m, { maxSamplesPerSend: 100, maxQueuedSamples: 100_000 }, HOSTS.slice(0, 3), () => 5000);
    await w.collect();
    await waitFor('the collection delivered', () => w.queuedSamples === 0 && r.accepted.length === 3, 5000, 5);
    // 3 hosts of 78 series in slices of 100 across hosts, as one writer always sent them.
    expect(r.accepted.map((req) => req.length)).toEqual([100, 100, 3 * SERIES_PER_HOST - 200]);
    expect(r.accepted.flat().map((s) => s.host)).toEqual(['web-0', 'web-1', 'web-2'].flatMap((_, i) => Array<string>(SERIES_PER_HOST).fill(HOSTS[i])));
    expect(r.maxOpen()).toBe(1);
  });
});
