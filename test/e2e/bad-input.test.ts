import { rmSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../protocol/index.js';
import { AGENT_TOKEN, Fleet } from '../helpers/fleet.js';
import { logLines, stopAll, tcpAnswers, waitFor, type Proc } from '../helpers/procs.js';

interface Host {
  id: string;
  connected: boolean;
  lastSeen: string;
}
interface Heal {
  state: string;
  host: string;
}

function open(url: string, token?: string): WebSocket {
  return new WebSocket(`${url.replace('http', 'ws')}/v1/agent`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
}

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
}

function statusOf(ws: WebSocket): Promise<number> {
  return new Promise((r, j) => {
    ws.once('unexpected-response', (_req, res) => {
      r(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('open', () => j(new Error('connection was accepted')));
    ws.once('error', () => undefined);
  });
}

/** Bad input never crashes anything: each gets a clear error, and everything else keeps working. */
describe('bad input', () => {
  const fleet = new Fleet();
  let good: Proc;
  let svc: Awaited<ReturnType<Fleet['service']>>;

  beforeAll(async () => {
    svc = await fleet.service('svc');
    fleet.rule('web', 'svc-down', {
      hosts: { role: 'web' },
      when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] },
      heal: { action: 'service.restart', params: { service: 'svc' } },
    });
    await fleet.startController();
    good = fleet.startAgent('good', {
      interval: '500ms',
      services: [{ name: 'svc', probe: { tcp: `127.0.0.1:${svc.port}` }, probeInterval: '250ms', restart: svc.restart }],
    });
    await waitFor('good agent connected', async () => (await fleet.api<Host[]>('/api/v1/hosts')).find((h) => h.id === 'good' && h.connected));
  });

  afterAll(async () => {
    await stopAll();
    await fleet.cleanup();
  });

  it('refuses a wrong or missing token at the upgrade with HTTP 401', async () => {
    expect(await statusOf(open(fleet.url, 'wrong-token'))).toBe(401);
    expect(await statusOf(open(fleet.url))).toBe(401);
    const metrics = await (await fetch(`${fleet.url}/metrics`)).text();
    expect(metrics).toMatch(/laas_link_upgrades_rejected_total\{reason="bad-token"\} 1/);
    expect(metrics).toMatch(/laas_link_upgrades_rejected_total\{reason="no-token"\} 1/);
  });

  it('a real agent with a wrong token is refused and says why', async () => {
    const bad = fleet.startAgent('intruder', { token: 'not-the-token' });
    await waitFor('the refusal in the agent log', () => bad.stderr().includes('controller refused the link (HTTP 401)'));
    expect(logLines(bad.stderr()).some((l) => typeof l.msg === 'string' && l.msg.includes('the agent token is wrong'))).toBe(true);
    const hosts = await fleet.api<Host[]>('/api/v1/hosts');
    expect(hosts.map((h) => h.id)).not.toContain('intruder');
    await bad.stop();
  });

  const garbage: [string, string, string][] = [
    ['text that is not JSON', 'garbage', 'FRAME_NOT_JSON'],
    ['an unknown message type', JSON.stringify({ v: 1, type: 'exec', body: { cmd: 'id' } }), 'FRAME_UNKNOWN_TYPE'],
    ['a sample before hello', encode('sample', { seq: 0, ts: Date.now(), trigger: 'interval' }), 'FRAME_UNEXPECTED'],
    ['a malformed hello', JSON.stringify({ v: 1, type: 'hello', body: { agentId: 5 } }), 'FRAME_BAD_BODY'],
    [
      'a run, which only controllers send',
      encode('run', { id: 'x', host: 'x', action: 'script.run', params: { name: 'x' }, timeoutMs: 1, deadline: 1 }),
      'FRAME_UNEXPECTED',
    ],
  ];
  it.each(garbage)('closes a connection that sends %s, and only that one', async (_what, frame, code) => {
    const ws = open(fleet.url, AGENT_TOKEN);
    await new Promise((r) => ws.once('open', r));
    const closed = closeOf(ws);
    ws.send(frame);
    const { code: wsCode, reason } = await closed;
    expect(wsCode).toBe(1008);
    expect(reason).toContain(code);
    const before = (await fleet.api<Host[]>('/api/v1/hosts')).find((h) => h.id === 'good')!;
    await waitFor(
      'the good agent to keep reporting',
      async () => {
        const h = (await fleet.api<Host[]>('/api/v1/hosts')).find((x) => x.id === 'good');
        return h && h.connected && h.lastSeen > before.lastSeen;
      },
      5000,
    );
    expect(good.child.exitCode).toBeNull();
    expect(fleet.controller!.child.exitCode).toBeNull();
  });

  it('reports an invalid rule file with file and pointer, and keeps running the previous rules', async () => {
    const file = fleet.writeRaw(
      'rules/web/broken.json',
      JSON.stringify({
        name: 'broken',
        when: { all: [{ fact: 'cpu', path: '$.usage', operator: 'greaterThan', value: 1 }] },
        heal: { action: 'service.restart', params: { svc: 'x' } },
      }),
    );
    const res = await fleet.fetch('/api/v1/rules/reload', { method: 'POST' });
    expect(res.status).toBe(422);
    const body = (await res.json()) as { ok: boolean; rules: number; errors: { code: string; file: string; pointer: string; text: string }[] };
    expect(body).toMatchObject({ ok: false, rules: 1 });
    expect(body.errors.map((e) => e.text)).toEqual([
      `${file} /heal/params/service: service.restart: required, expected string`,
      `${file} /heal/params: unknown parameter "svc" for service.restart`,
    ]);
    expect(body.errors.every((e) => e.code === 'RULE_BAD_PARAMS' && e.file === file)).toBe(true);
    expect(fleet.controller!.stderr()).toContain('keeping the previous 1 rules');

    // The old rule still heals.
    process.kill(svc.pid(), 'SIGKILL');
    await waitFor(
      'the old rule to heal the service',
      async () => (await fleet.api<Heal[]>('/api/v1/heals?state=succeeded')).some((h) => h.host === 'good'),
      15_000,
    );
    expect(await tcpAnswers(svc.port)).toBe(true);

    rmSync(file);
    const fixed = await fleet.fetch('/api/v1/rules/reload', { method: 'POST' });
    expect(fixed.status).toBe(200);
    expect(await fixed.json()).toMatchObject({ ok: true, rules: 1 });
  });

  it('answers a bad API request with a stable error code', async () => {
    const res = await fetch(`${fleet.url}/api/v1/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'API_NOT_FOUND', message: 'no endpoint GET /api/v1/nope' } });
    const bad = await fleet.fetch('/api/v1/rules/validate', { method: 'POST', body: '{"name":' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('API_BAD_REQUEST');
    const invalid = await fleet.fetch('/api/v1/rules/validate', { method: 'POST', body: JSON.stringify({ name: 'x', when: { all: [] } }) });
    expect(invalid.status).toBe(422);
    expect(await invalid.json()).toEqual({ valid: false, errors: [{ pointer: '/when/all', message: '"all" must be a non-empty array of conditions' }] });
  });
});

/** A controller given a bad config file refuses to start and says where the fault is. */
describe('bad controller config', () => {
  const fleet = new Fleet();
  afterAll(() => fleet.cleanup());

  it('exits 1 naming the file and the JSON pointer', async () => {
    const { laasRun } = await import('../helpers/procs.js');
    const file = fleet.writeRaw('bad.json', JSON.stringify({ listen: 'localhost', agentTokens: 'secret', recievers: {} }));
    const r = await laasRun(['controller', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`laas: CONFIG_INVALID: ${file} /listen: expected "host:port"`);
    expect(r.stderr).toContain(`${file} /agentTokens: expected array, received string`);
    expect(r.stderr).toContain(`${file} /: unknown field "recievers"`);
    const notJson = fleet.writeRaw('bad2.json', '{\n  "listen": "127.0.0.1:1",\n}');
    const r2 = await laasRun(['controller', '--config', notJson]);
    expect(r2.stderr).toContain(`laas: CONFIG_NOT_JSON: ${notJson}:3:1: not valid JSON`);
    expect(join(fleet.dir)).toBeTruthy();
  });
});
