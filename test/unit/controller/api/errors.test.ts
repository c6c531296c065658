import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTP_STATUS } from '../../../../controller/api/errors.js';
import { Api } from '../../../../controller/api/server.js';
import { ERROR_CODES, LaasError, silentLogger, type ErrorCode } from '../../../../protocol/index.js';

/** How the API answers errors thrown anywhere in the controller: the code, with its status from one table. */
describe('API error statuses', () => {
  let server: Server;
  let base: string;

  beforeAll(async () => {
    const api = new Api([], silentLogger)
      .route('POST', '/throw/{code}', 'public', async (r) => {
        throw new LaasError(r.params.code as ErrorCode, `thrown as ${r.params.code}`);
      })
      .route('GET', '/crash', 'public', async () => {
        throw new TypeError('a bug');
      });
    server = createServer((req, res) => void api.handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  const call = async (path: string, method = 'POST') => {
    const res = await fetch(base + path, { method, headers: { 'content-type': 'application/json' } });
    return { status: res.status, body: (await res.json()) as { error: { code: string; message: string } } };
  };

  it.each(Object.entries(HTTP_STATUS))('%s is answered %i with its own code', async (code, status) => {
    const out = await call(`/throw/${code}`);
    expect(out).toEqual({ status, body: { error: { code, message: `thrown as ${code}` } } });
  });

  it('a code without a status is a fault of the request (400), still with its code', async () => {
    expect(HTTP_STATUS.CONFIG_INVALID).toBeUndefined();
    expect(await call('/throw/CONFIG_INVALID')).toMatchObject({ status: 400, body: { error: { code: 'CONFIG_INVALID' } } });
  });

  it('an unexpected failure is a 500 that says where to look, not what broke', async () => {
    expect(await call('/crash', 'GET')).toEqual({ status: 500, body: { error: { code: 'INTERNAL', message: 'internal error; see the controller log' } } });
  });

  it('a known path with another method is 405, an unknown path 404', async () => {
    expect(await call('/crash', 'DELETE')).toMatchObject({ status: 405, body: { error: { code: 'API_METHOD_NOT_ALLOWED' } } });
    expect(await call('/nowhere', 'GET')).toMatchObject({ status: 404, body: { error: { code: 'API_NOT_FOUND' } } });
  });

  it('docs/errors.md gives every status of the table, and nothing else', () => {
    const doc = readFileSync('docs/errors.md', 'utf8');
    const section = doc.slice(doc.indexOf('## HTTP status of each error'));
    const documented = Object.fromEntries([...section.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|$/gm)].map((m) => [m[1], Number(m[2])]));
    expect(documented).toEqual(HTTP_STATUS);
    for (const code of Object.keys(HTTP_STATUS)) expect(ERROR_CODES).toHaveProperty(code);
  });
});
