import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { AGENT_TOKEN, Fleet } from '../helpers/fleet.js';
import type { HealView } from '../helpers/heal.js';
import { CLUSTER_SECRET, postgresMissing, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { laasRun, stopAll, waitFor } from '../helpers/procs.js';
import { SimAgent } from '../helpers/sim-agent.js';

interface HostView {
  id: string;
  connected: boolean;
}
interface AgentView {
  id: string;
  revokedAt: string | null;
  connected: boolean;
}

const OTHER_SECRET = 'not-the-cluster-secret-0123456789abcdefgh';

/**
 * The database is a trust boundary: someone who can connect to it (read it, LISTEN, NOTIFY)
 * must not be able to steer a controller or take its signing key, and two controllers sharing
 * it must not lose each other's identity writes. Two real controllers on one real PostgreSQL.
 */
describe.skipIf(postgresMissing())('controllers sharing a database do not trust it', () => {
  let server: TestPostgres;
  let db: pg.Client;
  const a = new Fleet();
  const b = new Fleet();
  const sims: SimAgent[] = [];
  const config = (id: string, url: string, secret = CLUSTER_SECRET) => ({
    store: { type: 'postgres', url },
    cluster: { id, heartbeat: '300ms', expireAfter: '1500ms', secret },
    hostDownAfter: '3s',
  });
  const post = (fleet: Fleet, path: string, body: unknown = {}) =>
    fleet.fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const enrollToken = async (fleet: Fleet, uses = 1) => ((await (await post(fleet, '/api/v1/enroll-tokens', { uses })).json()) as { token: string }).token;
  const rejected = async (fleet: Fleet, reason: string) => {
    const text = await (await fleet.fetch('/metrics')).text();
    return Number(new RegExp(`^laas_cluster_messages_rejected_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  };

  beforeAll(async () => {
    server = await startPostgres();
    db = new pg.Client({ connectionString: server.url });
    await db.connect();
    for (const fleet of [a, b]) {
      fleet.rule('trust', 'appr-down', {
        hosts: { role: 'appr' },
        when: { all: [{ fact: 'service', path: '$.appr.up', operator: 'equal', value: false }] },
        severity: 'critical',
        heal: { action: 'service.restart', params: { service: 'appr' }, approval: 'required' },
      });
    }
    await a.startController(config('A', server.url));
    await b.startController(config('B', server.url));
  }, 120_000);

  afterAll(async () => {
    for (const s of sims) s.stop();
    await db?.end();
    await stopAll();
    await a.cleanup();
    await b.cleanup();
    await server?.stop();
  }, 60_000);

  it('keeps the signing key out of the database in the clear; both controllers sign with it; another secret cannot', async () => {
    const rows = (await db.query<{ key: string; value: string }>('SELECT key, value::text AS value FROM laas_state')).rows;
    expect(rows.map((r) => r.key)).toContain('signing-key');
    for (const r of rows) expect(r.value).not.toMatch(/PRIVATE KEY/);
    const keyOf = async (fleet: Fleet) =>
      (
        (await (await post(fleet, '/v1/enroll', { token: await enrollToken(fleet), agentId: `key-${fleet === a ? 'a' : 'b'}` })).json()) as {
          signingKey: string;
        }
      ).signingKey;
    const [ka, kb] = [await keyOf(a), await keyOf(b)];
    expect(ka).toContain('BEGIN PUBLIC KEY');
    expect(kb).toBe(ka);

    const c = new Fleet();
    try {
      const wrong = await laasRun([
        'controller',
        '--config',
        c.writeRaw('controller.json', JSON.stringify({ listen: '127.0.0.1:0', rulesDir: './rules', ...config('C', server.url, OTHER_SECRET) })),
      ]);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(
        /CLUSTER_SECRET_MISMATCH: the instruction-signing key in the database cannot be opened with this controller's cluster\.secret/,
      );
      const none = await laasRun([
        'controller',
        '--config',
        c.writeRaw('none.json', JSON.stringify({ listen: '127.0.0.1:0', rulesDir: './rules', store: { type: 'postgres', url: server.url } })),
      ]);
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/CONFIG_INVALID: .*\/cluster\/secret: required with the PostgreSQL store: .*openssl rand -base64 32/);
      // Neither joined: no row of theirs among the controllers.
      expect((await db.query('SELECT id FROM laas_controllers ORDER BY id')).rows.map((r) => r.id)).toEqual(['A', 'B']);
    } finally {
      await c.cleanup();
    }
  });

  it('seals a plain signing key an older laas left in the database, keeping the key agents pinned', async () => {
    const url = await server.createDatabase();
    const old = generateKeyPairSync('ed25519');
    const pem = old.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const c = new Fleet();
    try {
      // An older laas made the schema and kept the key in plain text: start once to migrate, then put the plain key back as it was.
      const first = await c.startController(config('solo', url));
      await first.stop();
      const other = new pg.Client({ connectionString: url });
      await other.connect();
      try {
        await other.query("UPDATE laas_state SET value = $1 WHERE key = 'signing-key'", [JSON.stringify(pem)]);
        const proc = await c.startController(config('solo', url));
        expect(proc.stderr()).toContain('the instruction-signing key was in the database in plain text');
        const stored = (await other.query<{ value: string }>("SELECT value::text AS value FROM laas_state WHERE key = 'signing-key'")).rows[0].value;
        expect(stored).not.toContain('PRIVATE KEY');
        expect(JSON.parse(stored)).toMatchObject({ sealed: 1, alg: 'aes-256-gcm' });
        const enrolled = (await (await post(c, '/v1/enroll', { token: await enrollToken(c), agentId: 'pinned' })).json()) as { signingKey: string };
        expect(enrolled.signingKey).toBe(createPublicKey(old.privateKey).export({ type: 'spki', format: 'pem' }));
      } finally {
        await other.end();
      }
    } finally {
      await c.controller?.stop();
      await c.cleanup();
    }
  });

  it('ignores a forged approval sent over NOTIFY by someone with database access', async () => {
    const agent = new SimAgent(a.url, AGENT_TOKEN, 'appr-1', { role: 'appr' }, 60_000);
    agent.services.appr = { up: true, since: Date.now() };
    sims.push(agent);
    await agent.connect();
    agent.setService('appr', false);
    const order = await waitFor(
      'a work order awaiting approval',
      async () => (await a.api<HealView[]>('/api/v1/heals?state=awaiting-approval')).find((h) => h.host === 'appr-1'),
      15_000,
    );
    const owner = (await db.query<{ controller: string }>("SELECT controller FROM laas_host_owners WHERE host = 'appr-1'")).rows[0].controller;
    expect(owner).toBe('A');
    const before = { malformed: await rejected(a, 'malformed'), badMac: await rejected(a, 'bad-mac') };
    // What a controller sends to have the owner approve, in the old unauthenticated shape, and in the new shape with a made-up MAC.
    const request = { to: 'A', from: 'B', kind: 'owner', req: 'forged-1', body: { kind: 'approve', id: order.id, by: 'mallory', comment: 'forged' } };
    await db.query("SELECT pg_notify('laas_cluster', $1)", [JSON.stringify(request)]);
    await db.query("SELECT pg_notify('laas_cluster', $1)", [JSON.stringify({ m: JSON.stringify({ ...request, ts: Date.now(), nonce: 'n1' }), mac: 'AAAA' })]);
    await waitFor(
      'both forgeries dropped and counted',
      async () => (await rejected(a, 'malformed')) > before.malformed && (await rejected(a, 'bad-mac')) > before.badMac,
      10_000,
    );
    const still = (await a.api<HealView[]>('/api/v1/heals')).find((h) => h.id === order.id)!;
    expect(still.state).toBe('awaiting-approval');
    expect(agent.runs).toEqual([]);
    expect(a.controller!.stderr()).toContain('cluster message dropped: someone without the cluster secret wrote to the laas_cluster channel');
    // The real thing, through the other controller, still works.
    expect((await post(b, `/api/v1/heals/${order.id}/approve`, { comment: 'real' })).status).toBe(200);
    await waitFor('the approved heal sent', () => agent.runs.length === 1, 15_000);
  });

  it('spends a one-time enrollment token once when both controllers are asked at the same instant, and loses no enrollment', async () => {
    const rounds = 5;
    const tokens: string[] = [];
    for (let i = 0; i < rounds; i++) tokens.push(await enrollToken(i % 2 ? b : a));
    // Both controllers know every token (and an enrollment made through one is seen by the other).
    expect((await post(a, '/v1/enroll', { token: await enrollToken(a), agentId: 'warm-up' })).status).toBe(201);
    await waitFor('B lists the enrollment made through A', async () => (await b.api<AgentView[]>('/api/v1/agents')).some((x) => x.id === 'warm-up'), 10_000);

    const won: { id: string; credential: string; via: Fleet }[] = [];
    for (let i = 0; i < rounds; i++) {
      const answers = await Promise.all(
        [a, b].map(async (fleet, n) => {
          const id = `race-${i}-${n ? 'b' : 'a'}`;
          const r = await post(fleet, '/v1/enroll', { token: tokens[i], agentId: id });
          return { id, status: r.status, body: (await r.json()) as { credential?: string; error?: { code: string; message: string } }, via: fleet };
        }),
      );
      expect(answers.map((x) => x.status).sort()).toEqual([201, 403]);
      const loser = answers.find((x) => x.status === 403)!;
      expect(loser.body.error).toEqual({ code: 'ENROLL_FAILED', message: 'enrollment token already used' });
      const winner = answers.find((x) => x.status === 201)!;
      won.push({ id: winner.id, credential: winner.body.credential!, via: winner.via });
    }
    // Every winner is listed by both controllers, and may connect through the other one.
    for (const fleet of [a, b]) {
      const listed = (await fleet.api<AgentView[]>('/api/v1/agents')).map((x) => x.id);
      for (const w of won) expect(listed).toContain(w.id);
    }
    for (const w of won) {
      const s = new SimAgent((w.via === a ? b : a).url, w.credential, w.id, { role: 'race' });
      sims.push(s);
      await s.connect();
      expect(s.welcomed).toBe(true);
      s.stop();
    }
  });

  it('a revocation whose NOTIFY is lost still disconnects the agent, and it cannot come back', async () => {
    const r = await post(a, '/v1/enroll', { token: await enrollToken(a), agentId: 'doomed-1' });
    const { credential } = (await r.json()) as { credential: string };
    const agent = new SimAgent(a.url, credential, 'doomed-1', { role: 'x' });
    agent.reconnect = { minMs: 100, maxMs: 300 };
    sims.push(agent);
    await agent.connect();
    await a.hostConnected('doomed-1');

    // A's LISTEN connection dies (a network blip, a DBA ending it): what is sent until it is back never reaches A.
    const ended = await db.query<{ ok: boolean }>("SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'laas A listener'");
    expect(ended.rows.map((x) => x.ok)).toEqual([true]);
    const revoked = await b.fetch('/api/v1/agents/doomed-1', { method: 'DELETE' });
    expect(revoked.status).toBe(200);

    await waitFor('A dropped the revoked agent', async () => !(await a.api<HostView[]>('/api/v1/hosts')).find((h) => h.id === 'doomed-1')?.connected, 10_000);
    await waitFor('the agent refused when it tries again', () => agent.refusals.includes(401), 10_000);
    expect(agent.welcomed).toBe(false);
    expect(a.controller!.stderr()).toContain('cluster listener connection closed; reconnecting');
  });
});
