import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from '../../../../controller/api/server.js';
import { silentLogger } from '../../../../protocol/index.js';

/** The browser-safety checks of an API, over a real HTTP server on loopback. */
describe('API browser-safety checks', () => {
  const servers: Server[] = [];
  const serve = async (api: Api): Promise<number> => {
    const server = createServer((req, res) => void api.handle(req, res));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as AddressInfo).port;
  };
  const call = (port: number, method: string, headers: Record<string, string>): Promise<{ status: number; code?: string }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/change', method, headers }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, code: (JSON.parse(text) as { error?: { code: string } }).error?.code }));
      });
      req.on('error', reject);
      req.end(method === 'POST' ? '{}' : undefined);
    });
  const routes = (api: Api) =>
    api.route('POST', '/change', 'operator', async () => ({ body: { ok: true } })).route('GET', '/change', 'viewer', async () => ({ body: { ok: true } }));
  let open = 0;
  let tokens = 0;

  beforeAll(async () => {
    open = await serve(routes(new Api([], silentLogger, { externalUrl: 'https://Laas.Example.com:8443/' })));
    tokens = await serve(routes(new Api([{ name: 'ops', token: 'tok-0123456789', role: 'admin' }], silentLogger)));
  });
  afterAll(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
  });

  const json = { 'content-type': 'application/json; charset=utf-8' };

  it("an open API takes loopback names and the externalUrl's host, in Host and Origin", async () => {
    for (const host of ['127.0.0.1:1', '127.1.2.3', 'localhost', 'app.localhost:7070', '[::1]:7070', 'laas.example.com:8443', 'LAAS.EXAMPLE.COM']) {
      expect((await call(open, 'POST', { ...json, host })).status, host).toBe(200);
    }
    expect((await call(open, 'POST', { ...json, origin: 'https://laas.example.com:8443' })).status).toBe(200);
    expect((await call(open, 'POST', { ...json, origin: 'http://localhost:3000' })).status).toBe(200);
    for (const host of ['laas.example.com.evil.net', '10.0.0.5:7070', '[::ffff:127.0.0.1]:7070', '127.0.0.1.nip.io']) {
      expect(await call(open, 'GET', { host }), host).toEqual({ status: 403, code: 'API_HOST_NOT_ALLOWED' });
    }
    expect(await call(open, 'POST', { ...json, origin: 'https://laas.example.com.evil.net' })).toEqual({ status: 403, code: 'API_CROSS_SITE' });
  });

  it('a bearer token is proof enough: no Host, Content-Type or Origin check then', async () => {
    const auth = { authorization: 'Bearer tok-0123456789' };
    expect(
      (await call(tokens, 'POST', { ...auth, host: 'controller.example.com', 'content-type': 'text/plain', origin: 'https://elsewhere.example' })).status,
    ).toBe(200);
    expect(await call(tokens, 'POST', { host: 'controller.example.com', 'content-type': 'text/plain' })).toEqual({ status: 401, code: 'API_UNAUTHORIZED' });
  });
});
