import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { decode, encode, signRun, type Message, type Run } from '../../protocol/index.js';
import { Fleet } from '../helpers/fleet.js';
import { freePort, laas, laasRun, logLines, stopAll, waitFor } from '../helpers/procs.js';

interface Host {
  id: string;
  connected: boolean;
}
interface Audit {
  who: string;
  role: string;
  action: string;
  result: string;
  status?: number;
  detail?: string;
  from: string;
}
interface Heal {
  id: string;
  state: string;
  reason: string;
  host: string;
}

const ADMIN = 'admin-token-0123456789abcdef';
const OPERATOR = 'operator-token-0123456789abcd';
const VIEWER = 'viewer-token-0123456789abcdef';
const auth = (t: string) => ({ authorization: `Bearer ${t}` });

describe('TLS, enrollment, revocation, roles and audit', () => {
  const fleet = new Fleet();
  let certs: { ca: string; cert: string; key: string };
  let otherCa: string;
  let https: string;

  beforeAll(async () => {
    const a = await laasRun(['certs', 'init', '--dir', join(fleet.dir, 'certs'), '--hosts', 'localhost,127.0.0.1']);
    expect(a.code).toBe(0);
    const b = await laasRun(['certs', 'init', '--dir', join(fleet.dir, 'other'), '--hosts', 'localhost']);
    expect(b.code).toBe(0);
    certs = { ca: join(fleet.dir, 'certs/ca.pem'), cert: join(fleet.dir, 'certs/controller.pem'), key: join(fleet.dir, 'certs/controller-key.pem') };
    otherCa = join(fleet.dir, 'other/ca.pem');
    fleet.rule('sec', 'svc-down', {
      when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] },
      heal: { action: 'script.run', params: { name: 'fix' } },
    });
    await fleet.startController(
      {
        agentTokens: [],
        tls: { cert: certs.cert, key: certs.key },
        apiTokens: [
          { name: 'alice', token: ADMIN, role: 'admin' },
          { name: 'olga', token: OPERATOR, role: 'operator' },
          { name: 'victor', token: VIEWER, role: 'viewer' },
        ],
      },
      { https: true, ca: readFileSync(certs.ca, 'utf8') },
    );
    https = fleet.url;
  });

  afterAll(async () => {
    await stopAll();
    await fleet.cleanup();
  });

  const enrollToken = async (uses = 1, ttl = '1h') => {
    const r = await fleet.fetch('/api/v1/enroll-tokens', {
      method: 'POST',
      headers: { ...auth(ADMIN), 'content-type': 'application/json' },
      body: JSON.stringify({ uses, ttl }),
    });
    expect(r.status).toBe(201);
    return ((await r.json()) as { token: string }).token;
  };
  const agentConfig = (id: string, extra: Record<string, unknown>) => ({
    controller: `wss://localhost:${fleet.port}`,
    ca: certs.ca,
    id,
    interval: '1s',
    reconnect: { min: '100ms', max: '500ms' },
    credentialFile: join(fleet.dir, `${id}.credential.json`),
    ...extra,
  });

  it('serves the API over https only to clients that trust its CA', async () => {
    expect(https.startsWith('https://')).toBe(true);
    const health = await fleet.fetch('/healthz');
    expect(health.status).toBe(200);
    await expect(fetch(`${https}/healthz`)).rejects.toThrow(); // the system CAs do not know it
  });

  it('enrolls an agent over wss with a one-time token; the credential is kept 0600 and no token is logged', async () => {
    const token = await enrollToken();
    const agent = fleet.startAgent('enrolled-1', agentConfig('enrolled-1', { enrollToken: token }));
    await waitFor(
      'enrolled agent connected',
      async () => (await fleet.apiAuth<Host[]>('/api/v1/hosts', ADMIN)).some((h) => h.id === 'enrolled-1' && h.connected),
      15_000,
    );
    const file = join(fleet.dir, 'enrolled-1.credential.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { agentId: string; credential: string; signingKey: string };
    expect(saved).toMatchObject({
      agentId: 'enrolled-1',
      credential: expect.stringMatching(/^laas-agent-/),
      signingKey: expect.stringContaining('BEGIN PUBLIC KEY'),
    });
    expect(JSON.stringify(saved)).not.toContain(token);
    for (const text of [agent.stderr(), fleet.controller!.stderr()]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(saved.credential);
    }
    // A used token enrolls no one else.
    const again = await laasRun(['agent', '--config', fleet.writeRaw('again.json', JSON.stringify(agentConfig('enrolled-2', { enrollToken: token })))]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('ENROLL_FAILED');
    expect(again.stderr).toContain('enrollment token already used');
  });

  it('refuses an expired enrollment token', async () => {
    const token = await enrollToken(5, '1s');
    await new Promise((r) => setTimeout(r, 1500));
    const r = await laasRun(['agent', '--config', fleet.writeRaw('late.json', JSON.stringify(agentConfig('late-1', { enrollToken: token })))]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ENROLL_FAILED: .*enrollment token expired at /);
  });

  it('an agent refuses a controller whose certificate another CA signed', async () => {
    const token = await enrollToken();
    const agent = fleet.startAgent('pinned-other', agentConfig('pinned-other', { enrollToken: token, ca: otherCa }));
    const code = await agent.exited;
    expect(code).toBe(1);
    expect(agent.stderr()).toMatch(
      /ENROLL_FAILED: https:\/\/localhost:\d+: cannot reach the controller to enroll: .*(certificate|self.signed|unable to verify)/i,
    );
    expect((await fleet.apiAuth<Host[]>('/api/v1/hosts', ADMIN)).map((h) => h.id)).not.toContain('pinned-other');
  });

  it('a revoked agent is disconnected and cannot connect again', async () => {
    const token = await enrollToken();
    const agent = fleet.startAgent('doomed', agentConfig('doomed', { enrollToken: token }));
    await waitFor('doomed connected', async () => (await fleet.apiAuth<Host[]>('/api/v1/hosts', ADMIN)).some((h) => h.id === 'doomed' && h.connected), 15_000);
    const r = await laasRun(['agents', 'revoke', 'doomed', '--url', https], { LAAS_TOKEN: ADMIN, NODE_EXTRA_CA_CERTS: certs.ca });
    expect(r.stdout).toBe('agent doomed revoked and disconnected\n');
    await waitFor('doomed disconnected', async () => !(await fleet.apiAuth<Host[]>('/api/v1/hosts', ADMIN)).find((h) => h.id === 'doomed')!.connected);
    await waitFor('the refusal in the agent log', () => agent.stderr().includes('controller refused the link (HTTP 401)'), 10_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await fleet.apiAuth<Host[]>('/api/v1/hosts', ADMIN)).find((h) => h.id === 'doomed')!.connected).toBe(false);
    const list = await fleet.apiAuth<{ id: string; revokedAt: string | null; revokedBy: string }[]>('/api/v1/agents', ADMIN);
    expect(list.find((a) => a.id === 'doomed')).toMatchObject({ revokedBy: 'alice', revokedAt: expect.any(String) });
    await agent.stop();
  });

  it('roles: a viewer cannot approve (403) and the attempt is audited; no token is 401; guessing is rate-limited', async () => {
    const approve = await fleet.fetch('/api/v1/heals/some-id/approve', { method: 'POST', headers: auth(VIEWER) });
    expect(approve.status).toBe(403);
    expect(await approve.json()).toEqual({ error: { code: 'API_FORBIDDEN', message: 'token "victor" has role viewer; this needs operator' } });
    expect((await fleet.fetch('/api/v1/hosts')).status).toBe(401);
    expect((await fleet.fetch('/api/v1/hosts', { headers: auth(VIEWER) })).status).toBe(200);
    expect((await fleet.fetch('/api/v1/audit', { headers: auth(OPERATOR) })).status).toBe(403);
    const audit = await fleet.apiAuth<Audit[]>('/api/v1/audit?limit=200', ADMIN);
    expect(audit).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ who: 'victor', role: 'viewer', action: 'POST /api/v1/heals/some-id/approve', result: 'denied', status: 403 }),
      ]),
    );
    expect(audit).toEqual(expect.arrayContaining([expect.objectContaining({ action: 'POST /api/v1/enroll-tokens', who: 'alice', result: 'ok' })]));
    expect(audit).toEqual(expect.arrayContaining([expect.objectContaining({ action: 'DELETE /api/v1/agents/doomed', who: 'alice', result: 'ok' })]));
    expect(audit).toEqual(
      expect.arrayContaining([expect.objectContaining({ action: 'enroll', who: 'enrolled-2', result: 'denied', detail: 'enrollment token already used' })]),
    );
    let status = 0;
    for (let i = 0; i < 12 && status !== 429; i++) status = (await fleet.fetch('/api/v1/hosts', { headers: auth(`wrong-${i}`) })).status;
    expect(status).toBe(429);
    expect((await fleet.fetch('/api/v1/hosts', { headers: auth(ADMIN) })).status).toBe(429); // the source is blocked, whatever it sends
  });
});

describe('listening beyond loopback', () => {
  const fleet = new Fleet();
  afterAll(async () => {
    await stopAll();
    await fleet.cleanup();
  });

  it('refuses 0.0.0.0 without TLS, and starts with a loud warning when "insecure" says so', async () => {
    const port = await freePort();
    const bad = fleet.writeRaw('open.json', JSON.stringify({ listen: `0.0.0.0:${port}`, agentTokens: ['t'], dataDir: './d1', rulesDir: './rules' }));
    const r = await laasRun(['controller', '--config', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`laas: CONFIG_INSECURE_LISTEN: refusing to listen on 0.0.0.0:${port} without TLS`);
    const ok = fleet.writeRaw(
      'insecure.json',
      JSON.stringify({
        listen: `0.0.0.0:${port}`,
        agentTokens: ['t'],
        dataDir: './d2',
        rulesDir: './rules',
        insecure: true,
        apiTokens: [{ name: 'ops', token: ADMIN, role: 'admin' }],
      }),
    );
    const p = laas(['controller', '--config', ok]);
    await waitFor('the warning', () => p.stderr().includes('INSECURE: listening beyond loopback without TLS'), 10_000);
    expect(logLines(p.stderr()).find((l) => String(l.msg).startsWith('INSECURE'))).toMatchObject({ level: 40 });
    await p.stop();
  });
});

/** The agent owns its safety: signed, fresh, first-time instructions only. */
describe('signed instructions at a real agent', () => {
  const fleet = new Fleet();
  const key = generateKeyPairSync('ed25519');
  let wss: WebSocketServer;
  let socket: WebSocket | undefined;
  const got: Message[] = [];
  const marker = () => join(fleet.dir, 'marker');

  beforeAll(async () => {
    const port = await freePort();
    wss = new WebSocketServer({ port, host: '127.0.0.1' });
    wss.on('connection', (ws) => {
      socket = ws;
      ws.on('message', (d) => {
        const msg = decode(d);
        got.push(msg);
        if (msg.type === 'hello') ws.send(encode('welcome', { hostId: msg.body.agentId, controllerVersion: 'test' }));
        if (msg.type === 'result') ws.send(encode('ack', { id: msg.body.id }));
      });
    });
    fleet.port = port;
    fleet.startAgent('signed-1', {
      controllerKey: key.publicKey.export({ type: 'spki', format: 'pem' }),
      scripts: { mark: [process.execPath, '-e', `require('fs').appendFileSync(${JSON.stringify(marker())}, 'x')`] },
    });
    await waitFor('the agent to connect', () => got.some((m) => m.type === 'sample'), 10_000);
  });

  afterAll(async () => {
    await stopAll();
    await new Promise((r) => {
      for (const c of wss.clients) c.terminate();
      wss.close(r);
    });
    await fleet.cleanup();
  });

  const send = (run: Run) => socket!.send(encode('run', run));
  const resultFor = (id: string, n = 1) =>
    waitFor(
      `result ${n} for ${id}`,
      () => {
        const rs = got.flatMap((m) => (m.type === 'result' && m.body.id === id ? [m.body] : []));
        return rs.length >= n && rs[n - 1];
      },
      10_000,
    );
  const base = (id: string): Omit<Run, 'sig'> => ({
    id,
    host: 'signed-1',
    action: 'script.run',
    params: { name: 'mark' },
    timeoutMs: 5000,
    deadline: Date.now() + 30_000,
  });

  it('runs a correctly signed instruction once, and refuses its replay', async () => {
    const run = base('ok-1');
    send({ ...run, sig: signRun(run, key.privateKey) });
    expect((await resultFor('ok-1')).outcome).toBe('succeeded');
    await new Promise((r) => setTimeout(r, 200));
    send({ ...run, sig: signRun(run, key.privateKey) });
    expect(await resultFor('ok-1', 2)).toMatchObject({ outcome: 'refused', error: { code: 'ACTION_REPLAYED' } });
    expect(readFileSync(marker(), 'utf8')).toBe('x');
  });

  it('refuses a tampered instruction', async () => {
    const run = base('tamper-1');
    const sig = signRun(run, key.privateKey);
    send({ ...run, params: { name: 'other' }, sig });
    expect(await resultFor('tamper-1')).toMatchObject({ outcome: 'refused', error: { code: 'ACTION_BAD_SIGNATURE' } });
    const forged = generateKeyPairSync('ed25519');
    send({ ...base('forged-1'), sig: signRun(base('forged-1'), forged.privateKey) });
    expect(await resultFor('forged-1')).toMatchObject({ outcome: 'refused', error: { code: 'ACTION_BAD_SIGNATURE' } });
    send(base('unsigned-1'));
    expect(await resultFor('unsigned-1')).toMatchObject({
      outcome: 'refused',
      error: { code: 'ACTION_BAD_SIGNATURE', message: 'the instruction is not signed' },
    });
  });

  it('refuses an expired instruction and one addressed to another host', async () => {
    const late = { ...base('late-1'), deadline: Date.now() - 1000 };
    send({ ...late, sig: signRun(late, key.privateKey) });
    expect(await resultFor('late-1')).toMatchObject({ outcome: 'refused', error: { code: 'ACTION_DEADLINE_PASSED' } });
    const other = { ...base('other-1'), host: 'web-9' };
    send({ ...other, sig: signRun(other, key.privateKey) });
    expect(await resultFor('other-1')).toMatchObject({ outcome: 'refused', error: { code: 'ACTION_NOT_ALLOWED' } });
    expect(readFileSync(marker(), 'utf8')).toBe('x');
  });
});

/** A refusal comes back to the controller and is recorded on the work order and in the audit log. */
describe('refusals are recorded', () => {
  const fleet = new Fleet();
  afterAll(async () => {
    await stopAll();
    await fleet.cleanup();
  });

  it("an agent pinning another key refuses the controller's instruction; the work order and audit say so", async () => {
    fleet.rule('sec', 'svc-down', {
      when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] },
      heal: { action: 'service.restart', params: { service: 'svc' } },
    });
    await fleet.startController();
    const svc = await fleet.service('svc');
    const stranger = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' });
    fleet.startAgent('wary', {
      controllerKey: stranger,
      services: [{ name: 'svc', probe: { tcp: `127.0.0.1:${svc.port}` }, probeInterval: '250ms', restart: svc.restart }],
    });
    await waitFor('wary connected', async () => (await fleet.api<Host[]>('/api/v1/hosts')).some((h) => h.connected));
    process.kill(svc.pid(), 'SIGKILL');
    const heal = await waitFor('the failed work order', async () => (await fleet.api<Heal[]>('/api/v1/heals?state=failed'))[0], 15_000);
    expect(heal.reason).toContain('ACTION_BAD_SIGNATURE');
    const audit = await fleet.api<Audit[]>('/api/v1/audit');
    expect(audit).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ who: 'wary', action: 'instruction refused', result: 'denied', detail: expect.stringContaining('ACTION_BAD_SIGNATURE') }),
      ]),
    );
  });
});
