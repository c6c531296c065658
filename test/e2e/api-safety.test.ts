import { readFileSync, readdirSync, statSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../helpers/fleet.js';
import { freePort, laasRun, stopAll } from '../helpers/procs.js';

interface Audit {
  at: string;
  who: string;
  role: string;
  action: string;
  target: string;
  result: string;
  status?: number;
  detail?: string;
  unauthenticated?: boolean;
  count?: number;
}

const ADMIN = 'admin-token-0123456789abcdef';
const VIEWER = 'viewer-token-0123456789abcdef';

/** One HTTP request with exactly these headers (fetch would not let a test set Host). */
function raw(
  url: string,
  path: string,
  o: { method?: string; headers?: Record<string, string>; body?: string; agent?: Agent } = {},
): Promise<{ status: number; json: { error?: { code: string; message: string } } & Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { method: o.method ?? 'GET', headers: o.headers, agent: o.agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) });
        } catch {
          resolve({ status: res.statusCode ?? 0, json: {} });
        }
      });
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/**
 * `laas up` runs an API with no tokens on loopback. A web page the operator visits must not be
 * able to use it: not by posting a form or a text/plain fetch (CSRF), not from another origin,
 * not by rebinding its own DNS name to 127.0.0.1 (its name then arrives as the Host).
 */
describe('an API with no tokens, on loopback', () => {
  const fleet = new Fleet();
  let url: string;
  let port: number;
  const paused = async () => (await fleet.api<{ paused: unknown }>('/api/v1/pause')).paused;

  beforeAll(async () => {
    await fleet.startController();
    url = fleet.url;
    port = fleet.port;
  });
  afterAll(async () => {
    await stopAll();
    await fleet.cleanup();
  });

  it('refuses a state-changing request that is not JSON: what a form or a simple cross-site fetch sends', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
      const r = await raw(url, '/api/v1/pause', { method: 'POST', headers: type ? { 'content-type': type } : {}, body: '{"reason":"csrf"}' });
      expect(r.status, String(type)).toBe(403);
      expect(r.json.error?.code).toBe('API_CROSS_SITE');
    }
    expect(await paused()).toBeNull();
    const del = await raw(url, '/api/v1/silences/x', { method: 'DELETE' });
    expect(del.json.error).toEqual({ code: 'API_CROSS_SITE', message: 'DELETE without a bearer token must send "Content-Type: application/json"' });
  });

  it('refuses a JSON request from another origin', async () => {
    const r = await raw(url, '/api/v1/pause', { method: 'POST', headers: { 'content-type': 'application/json', origin: 'https://evil.example' }, body: '{}' });
    expect(r.status).toBe(403);
    expect(r.json.error).toEqual({ code: 'API_CROSS_SITE', message: 'a POST from another origin ("https://evil.example") is refused without a bearer token' });
    expect((await raw(url, '/api/v1/pause', { method: 'POST', headers: { 'content-type': 'application/json', origin: 'null' }, body: '{}' })).status).toBe(403);
    expect(
      (await raw(url, '/api/v1/pause', { method: 'POST', headers: { 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' }, body: '{}' })).status,
    ).toBe(403);
    expect(await paused()).toBeNull();
  });

  it('refuses a Host that is not loopback (DNS rebinding), for reads and changes alike', async () => {
    const post = await raw(url, '/api/v1/pause', {
      method: 'POST',
      headers: { host: `rebind.evil.example:${port}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(post.status).toBe(403);
    expect(post.json.error?.code).toBe('API_HOST_NOT_ALLOWED');
    expect(post.json.error?.message).toBe(
      `Host "rebind.evil.example:${port}" is not this controller's: use 127.0.0.1 or localhost, set "externalUrl" to the address people use, or configure apiTokens`,
    );
    expect((await raw(url, '/api/v1/audit', { headers: { host: `rebind.evil.example:${port}` } })).status).toBe(403);
    expect(await paused()).toBeNull();
    // Loopback names pass.
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`])
      expect((await raw(url, '/api/v1/pause', { headers: { host } })).status, host).toBe(200);
  });

  it('the CLI still works: it sends JSON on every change, with a body or without', async () => {
    expect((await laasRun(['pause', '--reason', 'maintenance', '--url', url])).stdout).toBe('automatic heals paused fleet-wide; resume with: laas resume\n');
    expect(await paused()).toMatchObject({ by: 'anonymous', reason: 'maintenance' });
    expect((await laasRun(['resume', '--url', url])).stdout).toBe('automatic heals resumed\n');
    expect(await paused()).toBeNull();
  });

  it('the refusals are in the audit log, apart from the actions', async () => {
    const all = await fleet.api<Audit[]>('/api/v1/audit?limit=500');
    expect(all).toEqual(
      expect.arrayContaining([expect.objectContaining({ who: '-', action: 'POST /api/v1/pause', result: 'denied', status: 403, unauthenticated: true })]),
    );
    const actions = await fleet.api<Audit[]>('/api/v1/audit?limit=500&unauthenticated=false');
    expect(actions.map((e) => `${e.who} ${e.action} ${e.status}`)).toEqual(['anonymous DELETE /api/v1/pause 200', 'anonymous POST /api/v1/pause 200']);
  });
});

describe('a controller beyond loopback', () => {
  const fleet = new Fleet();
  afterAll(async () => {
    await stopAll();
    await fleet.cleanup();
  });

  it('refuses to start with no apiTokens, saying what to add', async () => {
    const port = await freePort();
    const file = fleet.writeRaw(
      'open.json',
      JSON.stringify({ listen: `0.0.0.0:${port}`, insecure: true, agentTokens: ['t'], dataDir: './d', rulesDir: './rules' }),
    );
    const r = await laasRun(['controller', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `laas: CONFIG_OPEN_API: refusing to listen on 0.0.0.0:${port} with no "apiTokens": anyone reaching it would be admin. Add "apiTokens": [{"name": "ops", "token": {"file": "/etc/laas/api-token"}, "role": "admin"}]`,
    );
  });
});

describe('/metrics and /healthz with "metrics": {"requireToken": true}', () => {
  const fleet = new Fleet();
  beforeAll(async () => {
    fleet.apiToken = VIEWER;
    await fleet.startController({ apiTokens: [{ name: 'prometheus', token: VIEWER, role: 'viewer' }], metrics: { requireToken: true } });
  });
  afterAll(async () => {
    await stopAll();
    await fleet.cleanup();
  });

  it('answer only a bearer token (a viewer is enough)', async () => {
    for (const path of ['/metrics', '/healthz']) {
      const anon = await raw(fleet.url, path);
      expect(anon.status, path).toBe(401);
      expect(anon.json.error?.code).toBe('API_UNAUTHORIZED');
      expect((await raw(fleet.url, path, { headers: { authorization: `Bearer ${VIEWER}` } })).status, path).toBe(200);
    }
    expect(await (await fleet.fetch('/metrics')).text()).toContain('laas_link_agents_connected');
  });

  it('is a config error without apiTokens', async () => {
    const file = fleet.writeRaw(
      'no-tokens.json',
      JSON.stringify({ listen: `127.0.0.1:${await freePort()}`, dataDir: './d2', rulesDir: './rules', metrics: { requireToken: true } }),
    );
    const r = await laasRun(['controller', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file} /metrics/requireToken: needs "apiTokens"`);
  });
});

/**
 * The audit log must outlive a flood: unauthenticated noise (here 1,500 requests for unknown
 * paths of 8 KB each — the old single file rotated its only backup away after ~850 of them)
 * must not evict what authenticated callers did.
 */
describe('the audit log under a flood of unauthenticated requests', () => {
  const fleet = new Fleet();
  const auditFiles = () => readdirSync(fleet.dataDir).filter((f) => f.startsWith('audit'));

  beforeAll(async () => {
    await fleet.startController({ apiTokens: [{ name: 'alice', token: ADMIN, role: 'admin' }] });
  });
  afterAll(async () => {
    await stopAll();
    await fleet.cleanup();
  });

  it('keeps the last admin action findable, with the flood recorded compactly', async () => {
    const added = await laasRun(['silence', 'add', 'host=web-1', '--comment', 'before the flood', '--url', fleet.url], { LAAS_TOKEN: ADMIN });
    expect(added.code).toBe(0);
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const long = 'x'.repeat(8000);
    let sent = 0;
    await Promise.all(
      Array.from({ length: 8 }, async (_, lane) => {
        for (let i = lane; i < 1500; i += 8) {
          expect((await raw(fleet.url, `/${long}/${i}`, { agent })).status).toBe(404);
          sent++;
        }
      }),
    );
    agent.destroy();
    expect(sent).toBe(1500);

    const everything = await fleet.apiAuth<Audit[]>('/api/v1/audit?limit=10000', ADMIN);
    expect(everything).toEqual(
      expect.arrayContaining([expect.objectContaining({ who: 'alice', role: 'admin', action: 'POST /api/v1/silences', result: 'ok', status: 201 })]),
    );
    // The last thing an authenticated caller did is the first entry of the authenticated view.
    const cli = await laasRun(['audit', '--authenticated', '--limit', '5', '--json', '--url', fleet.url], { LAAS_TOKEN: ADMIN });
    expect((JSON.parse(cli.stdout) as Audit[])[0]).toMatchObject({ who: 'alice', action: 'POST /api/v1/silences', status: 201 });

    // The flood: a bounded number of records, each with capped fields, the rest counted.
    const noise = everything.filter((e) => e.unauthenticated);
    expect(noise.length).toBeGreaterThan(0);
    expect(noise.length).toBeLessThan(500);
    for (const e of noise) expect(JSON.stringify(e).length).toBeLessThan(2000);
    // Every refusal is accounted for: one by one, or in a summary's count (written within a second).
    await expect
      .poll(
        async () => (await fleet.apiAuth<Audit[]>('/api/v1/audit?limit=10000', ADMIN)).filter((e) => e.unauthenticated).reduce((n, e) => n + (e.count ?? 1), 0),
        { timeout: 5000 },
      )
      .toBe(1500);
    const bytes = auditFiles().reduce((n, f) => n + statSync(join(fleet.dataDir, f)).size, 0);
    expect(bytes).toBeLessThan(1024 * 1024);
  });

  it('does not copy a request body that is not JSON into the audit log (it may hold a secret)', async () => {
    const r = await fleet.fetch('/api/v1/silences', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: '{"comment": hunter2-secret-value}',
    });
    expect(r.status).toBe(400);
    const { error } = (await r.json()) as { error: { code: string; message: string } };
    expect(error).toEqual({ code: 'API_BAD_REQUEST', message: 'body is not valid JSON (request body:1:13: invalid symbol)' });
    for (const f of auditFiles()) expect(readFileSync(join(fleet.dataDir, f), 'utf8'), f).not.toContain('hunter2');
    const entry = (await fleet.apiAuth<Audit[]>('/api/v1/audit?limit=5&unauthenticated=false', ADMIN))[0];
    expect(entry).toMatchObject({
      who: 'alice',
      action: 'POST /api/v1/silences',
      result: 'failed',
      status: 400,
      detail: 'body is not valid JSON (request body:1:13: invalid symbol)',
    });
  });
});
