import { getEventListeners } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { LatestFacts } from '../../../../controller/export/latest-facts.js';
import { RemoteWriter, type RemoteWriteMetrics } from '../../../../controller/export/remote-write.js';
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

describe('RemoteWriter', () => {
  let writer: RemoteWriter | undefined;
  let server: Server | undefined;
  afterEach(async () => {
    await writer?.stop();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    writer = server = undefined;
  });

  function start(url: string, m: RemoteWriteMetrics, queue: { maxSamplesPerSend: number; maxQueuedSamples: number }): RemoteWriter {
    const latest = new LatestFacts(3_600_000);
    latest.record('web-1', { seq: 0, ts: 0, trigger: 'interval', ...everyFact() }, Date.now());
    // An hour's interval: collect() is called by the test, not a timer.
    const target = { url, intervalMs: 3_600_000, timeoutMs: 5000, headers: {}, maxSeriesPerHost: 10_000, minBackoffMs: 20, maxBackoffMs: 50, ...queue };
    writer = new RemoteWriter(target, { latest, metrics: m, log: quiet });
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
});
