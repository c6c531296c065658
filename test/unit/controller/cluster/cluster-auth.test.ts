import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Cluster } from '../../../../controller/cluster/cluster.js';
import { MAX_SKEW_MS, MessageAuth } from '../../../../controller/cluster/message-auth.js';
import { ClusterSecret } from '../../../../controller/security/cluster-secret.js';
import { PostgresStore } from '../../../../controller/store/postgres.js';
import { LaasError, silentLogger } from '../../../../protocol/index.js';
import { CLUSTER_SECRET, postgresMissing, startPostgres, type TestPostgres } from '../../../helpers/postgres.js';
import { waitFor } from '../../../helpers/procs.js';

describe('cluster secret: messages and sealed values', () => {
  it('a message is accepted once, within the clock window, and only with the same secret', () => {
    let now = 1_000_000;
    const a = new MessageAuth(new ClusterSecret(CLUSTER_SECRET), () => now);
    const b = new MessageAuth(new ClusterSecret(CLUSTER_SECRET), () => now);
    const stranger = new MessageAuth(new ClusterSecret('another-secret-of-forty-characters-xxxxx'), () => now);
    const payload = a.seal({ to: '*', from: 'A', kind: 'state', body: { key: 'pause' } });
    expect(b.open(payload)).toMatchObject({ ok: true, msg: { to: '*', from: 'A', kind: 'state', body: { key: 'pause' } } });
    expect(b.open(payload)).toEqual({ ok: false, reason: 'replayed' });
    expect(b.open(stranger.seal({ to: '*', from: 'X', kind: 'state' }))).toEqual({ ok: false, reason: 'bad-mac' });
    // Tampered: the body changed, the MAC kept.
    const outer = JSON.parse(a.seal({ to: 'B', from: 'A', kind: 'owner', body: { kind: 'reject' } })) as { m: string; mac: string };
    expect(b.open(JSON.stringify({ m: outer.m.replace('reject', 'approve'), mac: outer.mac }))).toEqual({ ok: false, reason: 'bad-mac' });
    expect(b.open('{"to":"*","from":"evil","kind":"state","body":{"key":"pause"}}')).toEqual({ ok: false, reason: 'malformed' });
    expect(b.open('not json')).toEqual({ ok: false, reason: 'malformed' });
    const old = a.seal({ to: '*', from: 'A', kind: 'state' });
    now += MAX_SKEW_MS + 1;
    expect(b.open(old)).toEqual({ ok: false, reason: 'stale' });
  });

  it('a sealed value opens only with the secret that sealed it', () => {
    const secret = new ClusterSecret(CLUSTER_SECRET);
    const sealed = secret.seal('-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n');
    expect(JSON.stringify(sealed)).not.toContain('PRIVATE KEY');
    expect(secret.open(sealed, 'the key')).toContain('abc');
    const err = (() => {
      try {
        new ClusterSecret('x'.repeat(40)).open(sealed, 'the key');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(LaasError);
    expect((err as LaasError).code).toBe('CLUSTER_SECRET_MISMATCH');
    expect(() => secret.open({ ...sealed, data: Buffer.from('tampered').toString('base64') }, 'the key')).toThrow(
      /CLUSTER_SECRET_MISMATCH|sealed with another secret/,
    );
  });
});

/**
 * Anyone who can connect to the database can LISTEN and NOTIFY on laas_cluster. A controller
 * acts only on messages from controllers that have the cluster secret: forged, tampered and
 * replayed ones are dropped and counted, and never reach a handler.
 */
describe.skipIf(postgresMissing())('cluster messages over a real PostgreSQL', () => {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await startPostgres();
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
  }, 30_000);

  it('drops what a database user without the secret sends, and replays of what a controller sent', async () => {
    const url = await server.createDatabase();
    const stores = await Promise.all([0, 1, 2].map(() => PostgresStore.open({ url, log: silentLogger, pruneEveryMs: 0 })));
    const rejected: string[] = [];
    const handled: { key: string; from: string }[] = [];
    const start = (i: number, id: string, secret: string, onRejected?: (r: string) => void) =>
      Cluster.start({
        store: stores[i],
        id,
        url: 'x',
        log: silentLogger,
        heartbeatMs: 60_000,
        expireMs: 120_000,
        secret: new ClusterSecret(secret),
        onRejected,
      });
    const a = await start(0, 'A', CLUSTER_SECRET);
    const b = await start(1, 'B', CLUSTER_SECRET, (r) => rejected.push(r));
    const wrong = await start(2, 'W', 'a-different-secret-of-forty-characters-xx');
    b.on('state', (body, from) => {
      handled.push({ key: (body as { key: string }).key, from });
    });
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    const captured: string[] = [];
    db.on('notification', (n) => {
      if (n.payload) captured.push(n.payload);
    });
    await db.query('LISTEN laas_cluster');
    try {
      // A database user forges a message in the old, unauthenticated shape, and a controller with another secret speaks.
      await db.query("SELECT pg_notify('laas_cluster', $1)", [JSON.stringify({ to: '*', from: 'A', kind: 'state', body: { key: 'forged' } })]);
      await wrong.broadcast('state', { key: 'wrong-secret' });
      // A real controller's message comes through; once it has, the earlier ones were seen too (one connection, in order).
      await a.broadcast('state', { key: 'real' });
      await waitFor('the real message handled', () => handled.some((h) => h.key === 'real'), 10_000);
      expect(handled).toEqual([{ key: 'real', from: 'A' }]);
      expect(rejected).toEqual(['malformed', 'bad-mac']);

      // Replaying what A sent, captured by a listening database user.
      const real = await waitFor('the real payload seen by the listener', () => captured.find((p) => p.includes('real')), 10_000);
      await db.query("SELECT pg_notify('laas_cluster', $1)", [real]);
      await a.broadcast('state', { key: 'after-replay' });
      await waitFor('the next real message handled', () => handled.some((h) => h.key === 'after-replay'), 10_000);
      expect(handled.map((h) => h.key)).toEqual(['real', 'after-replay']);
      expect(rejected).toEqual(['malformed', 'bad-mac', 'replayed']);
    } finally {
      await db.end();
      for (const c of [a, b, wrong]) await c.stop();
      for (const s of stores) await s.close();
    }
  });
});
