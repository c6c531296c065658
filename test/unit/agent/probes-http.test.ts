import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../../agent/config.js';
import { probe } from '../../../agent/probes/http.js';
import { ServiceWatcher } from '../../../agent/services.js';
import type { ServiceFacts } from '../../../protocol/index.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} } as never;

/** One server playing every page an operator's health check meets. */
let server: Server;
let base = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    switch (url.pathname) {
      case '/health':
        res.end('{"status":"healthy","db":"ok"}');
        return;
      case '/teapot':
        res.statusCode = 418;
        res.end('short and stout');
        return;
      case '/endless': {
        // A body that never ends (a log stream, a download): the probe must stop reading on its own.
        const more = () => {
          if (!res.destroyed) res.write('x'.repeat(16_384), () => setImmediate(more));
        };
        more();
        return;
      }
      case '/slow':
        setTimeout(() => res.end('healthy'), Number(url.searchParams.get('ms'))).unref();
        return;
      case '/moved':
        res.statusCode = 301;
        res.setHeader('location', '/health');
        res.end();
        return;
      case '/chain': {
        const n = Number(url.searchParams.get('n'));
        res.statusCode = 302;
        res.setHeader('location', n > 1 ? `/chain?n=${n - 1}` : '/health');
        res.end();
        return;
      }
      case '/loop':
        res.statusCode = 302;
        res.setHeader('location', '/loop');
        res.end();
        return;
      default:
        res.statusCode = 404;
        res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('http probe expectations', () => {
  it('keeps 2xx as up by default and reports the status and latency', async () => {
    const r = await probe(`${base}/health`, 2000);
    expect(r).toMatchObject({ up: true, status: 200 });
    expect(r.latencyMs).toBeGreaterThan(0);
    expect(await probe(`${base}/teapot`, 2000)).toMatchObject({ up: false, detail: 'HTTP 418', status: 418 });
  });

  it('takes the statuses it is told mean up: one, a range, a list', async () => {
    expect(await probe(`${base}/teapot`, 2000, undefined, { status: [[418, 418]] })).toMatchObject({ up: true, status: 418 });
    expect(await probe(`${base}/health`, 2000, undefined, { status: [[418, 418]] })).toMatchObject({ up: false, detail: 'HTTP 200', status: 200 });
    expect(
      await probe(`${base}/nothing`, 2000, undefined, {
        status: [
          [200, 299],
          [400, 404],
        ],
      }),
    ).toMatchObject({ up: true, status: 404 });
  });

  it('is down when the body does not match the pattern or lacks the keyword, and says which', async () => {
    expect(await probe(`${base}/health`, 2000, undefined, { bodyMatch: '"status":\\s*"(healthy|ok)"' })).toMatchObject({ up: true });
    expect(await probe(`${base}/health`, 2000, undefined, { bodyContains: '"db":"ok"' })).toMatchObject({ up: true });
    expect(await probe(`${base}/health`, 2000, undefined, { bodyMatch: '"db":\\s*"down"' })).toMatchObject({
      up: false,
      status: 200,
      detail: 'body does not match /"db":\\s*"down"/ (first 65536 bytes read)',
    });
    expect(await probe(`${base}/health`, 2000, undefined, { bodyContains: 'maintenance' })).toMatchObject({
      up: false,
      detail: 'body does not contain "maintenance" (first 65536 bytes read)',
    });
  });

  it('reads at most 64 KiB of the body, so an endless body gets a verdict, not a timeout', async () => {
    expect(await probe(`${base}/endless`, 3000, undefined, { bodyContains: 'xxxx' })).toMatchObject({ up: true });
    expect(await probe(`${base}/endless`, 3000, undefined, { bodyMatch: 'healthy' })).toMatchObject({
      up: false,
      detail: 'body does not match /healthy/ (first 65536 bytes read)',
    });
  });

  it('names a pattern RE2 refuses as the reason it is down', async () => {
    // Lookahead is JavaScript, not RE2: it would let a pattern backtrack without bound.
    expect(await probe(`${base}/health`, 2000, undefined, { bodyMatch: 'heal(?=thy)' })).toMatchObject({
      up: false,
      detail: expect.stringMatching(/^bodyMatch is not a regular expression RE2 accepts: /),
    });
  });

  it('calls an answer slower than the limit down, with its time, and one within it up', async () => {
    const slow = await probe(`${base}/slow?ms=300`, 5000, undefined, { maxLatencyMs: 50 });
    expect(slow).toMatchObject({ up: false, status: 200, detail: expect.stringMatching(/^answered in \d+ms, slower than the 50ms limit$/) });
    expect(slow.latencyMs).toBeGreaterThanOrEqual(300);
    expect(await probe(`${base}/slow?ms=0`, 5000, undefined, { maxLatencyMs: 4000 })).toMatchObject({ up: true });
  });

  it('follows as many redirects as allowed, judges a 3xx itself when told not to follow, and calls a loop down', async () => {
    expect(await probe(`${base}/moved`, 2000, undefined, { redirects: 0 })).toMatchObject({ up: false, detail: 'HTTP 301', status: 301 });
    expect(await probe(`${base}/moved`, 2000, undefined, { redirects: 0, status: [[301, 301]] })).toMatchObject({ up: true, status: 301 });
    expect(await probe(`${base}/chain?n=2`, 2000, undefined, { redirects: 3 })).toMatchObject({ up: true, status: 200 });
    expect(await probe(`${base}/chain?n=3`, 2000, undefined, { redirects: 3 })).toMatchObject({ up: true, status: 200 });
    expect(await probe(`${base}/chain?n=4`, 2000, undefined, { redirects: 3 })).toMatchObject({ up: false, detail: 'redirect count exceeded', status: 302 });
    expect(await probe(`${base}/loop`, 2000)).toMatchObject({ up: false, detail: 'redirect count exceeded' });
  });

  it('puts the status and latency into the service fact', async () => {
    const config = parseAgentConfig(
      { controller: 'ws://127.0.0.1:1', token: 't', services: [{ name: 'api', probe: { http: `${base}/teapot`, status: 418, bodyContains: 'stout' } }] },
      'agent.json',
    );
    const seen: ServiceFacts[] = [];
    const watcher = new ServiceWatcher({ services: config.services, onChange: (_n, f) => seen.push(f), log: silent });
    watcher.start();
    await watcher.probeNow('api');
    watcher.stop();
    expect(seen[0]).toMatchObject({ up: true, status: 418 });
    expect(seen[0].latencyMs).toBeGreaterThan(0);
  });
});

describe('http probe config', () => {
  const cfg = (probe: Record<string, unknown>) => ({ controller: 'ws://127.0.0.1:1', token: 't', services: [{ name: 'api', probe }] });

  it('reads statuses, body checks, a latency limit and a redirect policy', () => {
    const c = parseAgentConfig(
      cfg({ http: 'http://127.0.0.1/', status: [200, '300-399'], bodyMatch: 'ok|healthy', bodyContains: 'up', maxLatency: '500ms', redirects: 0 }),
      'agent.json',
    );
    expect(c.services[0].probe).toEqual({
      kind: 'http',
      target: 'http://127.0.0.1/',
      http: {
        status: [
          [200, 200],
          [300, 399],
        ],
        bodyMatch: 'ok|healthy',
        bodyContains: 'up',
        maxLatencyMs: 500,
        redirects: 0,
      },
    });
    expect(parseAgentConfig(cfg({ http: 'http://127.0.0.1/' }), 'agent.json').services[0].probe.http).toBeUndefined();
  });

  it.each([
    [{ http: 'http://x/', status: 700 }, '/services/0/probe/status: expected an HTTP status like 200, a range like "200-399", or a list of them'],
    [{ http: 'http://x/', status: '399-200' }, '/services/0/probe/status: expected an HTTP status'],
    [{ http: 'http://x/', bodyMatch: '(unclosed' }, '/services/0/probe/bodyMatch: expected a regular expression (RE2 syntax) like "ok|healthy"'],
    [{ http: 'http://x/', redirects: 21 }, '/services/0/probe/redirects: expected a whole number of redirects 0-20'],
    [{ http: 'http://x/', maxLatency: 'fast' }, '/services/0/probe/maxLatency: expected a duration'],
    [{ tcp: '127.0.0.1:1', status: 200 }, '/services/0/probe/status: "status" applies only to an http probe, not to tcp'],
  ])('refuses %j', (probe, message) => {
    expect(() => parseAgentConfig(cfg(probe), 'agent.json')).toThrow(message);
  });
});
