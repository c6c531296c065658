import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from '../../../../controller/api/server.js';
import { silentLogger } from '../../../../protocol/index.js';

/** A streamed body (what /metrics answers with) over a real HTTP server. */
describe('API streamed bodies', () => {
  let server: Server;
  let port: number;
  const parts = Array.from({ length: 50 }, (_, i) => `line ${i} ${'x'.repeat(2000)}\n`);

  beforeAll(async () => {
    const api = new Api([], silentLogger)
      .route('GET', '/parts', 'public', async () => ({
        contentType: 'text/plain; version=0.0.4',
        body: (async function* () {
          for (const p of parts) {
            yield p;
            await new Promise((r) => setImmediate(r));
          }
        })(),
      }))
      .route('GET', '/breaks', 'public', async () => ({
        body: (async function* () {
          yield 'a first part\n';
          throw new Error('making the second part failed');
        })(),
      }));
    server = createServer((req, res) => void api.handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  function fetchRaw(path: string, headers: Record<string, string> = {}): Promise<{ res: IncomingMessage; body: Buffer }> {
    return new Promise((resolve, reject) => {
      get({ host: '127.0.0.1', port, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ res, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      }).on('error', reject);
    });
  }

  it('sends the parts in order, chunked, as plain text to a client that does not accept gzip', async () => {
    const { res, body } = await fetchRaw('/parts');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4');
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(body.toString('utf8')).toBe(parts.join(''));
  });

  it('gzips the stream for a client that accepts it (as Prometheus does)', async () => {
    const { res, body } = await fetchRaw('/parts', { 'accept-encoding': 'gzip' });
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(body.length).toBeLessThan(parts.join('').length / 5);
    expect(gunzipSync(body).toString('utf8')).toBe(parts.join(''));
  });

  it('cuts the connection when a part fails, and keeps serving', async () => {
    await expect(fetchRaw('/breaks')).rejects.toThrow();
    const { body } = await fetchRaw('/parts');
    expect(body.toString('utf8')).toBe(parts.join(''));
  });
});
