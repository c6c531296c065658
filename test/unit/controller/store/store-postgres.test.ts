import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { parseControllerConfig } from '../../../../controller/config.js';
import { MIGRATIONS, PostgresStore } from '../../../../controller/store/postgres.js';
import { LaasError, silentLogger } from '../../../../protocol/index.js';
import { CLUSTER_SECRET, postgresMissing, startPostgres, type TestPostgres } from '../../../helpers/postgres.js';
import { freePort } from '../../../helpers/procs.js';
import { alert, heal } from '../../../helpers/store-suite.js';
import { waitFor } from '../../../helpers/procs.js';

describe('postgres store: errors and config', () => {
  it('a refused connection names host:port and what to check, without the password', async () => {
    const port = await freePort();
    const err = await PostgresStore.open({ url: `postgres://laas:s3cret@127.0.0.1:${port}/laas`, log: silentLogger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaasError);
    expect((err as LaasError).code).toBe('STORE_UNAVAILABLE');
    expect((err as LaasError).message).toContain(`laas@127.0.0.1:${port}/laas`);
    expect((err as LaasError).message).toMatch(/connection refused.*running/);
    expect((err as LaasError).message).not.toContain('s3cret');
  });

  it('the controller config chooses the store; the url may be a secret from the environment', () => {
    expect(parseControllerConfig({}, 'c.json').store).toEqual({ type: 'lowdb' });
    process.env.LAAS_TEST_STORE_URL = 'postgres://u:p@db:5432/laas';
    expect(
      parseControllerConfig({ store: { type: 'postgres', url: { env: 'LAAS_TEST_STORE_URL' } }, cluster: { secret: CLUSTER_SECRET } }, 'c.json').store,
    ).toEqual({ type: 'postgres', url: 'postgres://u:p@db:5432/laas' });
    delete process.env.LAAS_TEST_STORE_URL;
    expect(() =>
      parseControllerConfig({ store: { type: 'postgres', url: { env: 'LAAS_TEST_STORE_URL' } }, cluster: { secret: CLUSTER_SECRET } }, 'c.json'),
    ).toThrow(/c\.json \/store\/url: environment variable LAAS_TEST_STORE_URL is not set/);
    expect(() => parseControllerConfig({ store: { type: 'mysql' } }, 'c.json')).toThrow(/store/);
    expect(() => parseControllerConfig({ store: { type: 'postgres' } }, 'c.json')).toThrow(/store\/url/);
    // The cluster secret: required with PostgreSQL, long enough, with where and what to do.
    expect(() => parseControllerConfig({ store: { type: 'postgres', url: 'postgres://db/laas' } }, 'c.json')).toThrow(
      /c\.json \/cluster\/secret: required with the PostgreSQL store: .*"openssl rand -base64 32"/,
    );
    expect(() => parseControllerConfig({ store: { type: 'postgres', url: 'postgres://db/laas' }, cluster: { secret: 'short' } }, 'c.json')).toThrow(
      'c.json /cluster/secret: the cluster secret has 5 characters; use at least 32',
    );
    expect(
      parseControllerConfig({ store: { type: 'postgres', url: 'postgres://db/laas' }, cluster: { secret: CLUSTER_SECRET } }, 'c.json').cluster.secret,
    ).toBe(CLUSTER_SECRET);
  });
});

describe.skipIf(postgresMissing())('postgres store: migrations and durability', () => {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await startPostgres();
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
  }, 30_000);

  it('controllers starting together apply each migration exactly once', async () => {
    const url = await server.createDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresStore.open({ url, log: silentLogger })));
    const rows = (await stores[0].pool.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).rows;
    expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    // Every one of them can read what another wrote.
    await stores[1].putHeal(heal('w1'));
    expect((await stores[3].getHeal('w1'))?.id).toBe('w1');
    for (const s of stores) await s.close();
  });

  it('refuses a database a newer laas migrated, and changes nothing', async () => {
    const url = await server.createDatabase();
    const s = await PostgresStore.open({ url, log: silentLogger });
    await s.pool.query("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')");
    await s.close();
    const err = await PostgresStore.open({ url, log: silentLogger }).catch((e: unknown) => e);
    expect((err as LaasError).code).toBe('STORE_SCHEMA_NEWER');
    expect((err as LaasError).message).toContain('999');
  });

  it('flush() resolves only once the writes are committed, as another connection sees', async () => {
    const url = await server.createDatabase();
    const s = await PostgresStore.open({ url, log: silentLogger });
    for (let i = 0; i < 30; i++) void s.putHeal(heal(`w${i}`));
    await s.flush();
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    expect(Number((await other.query('SELECT count(*) AS n FROM laas_heals')).rows[0].n)).toBe(30);
    await other.end();
    await s.close();
  });

  it('a write that cannot be made makes flush() reject with STORE_WRITE_FAILED', async () => {
    const url = await server.createDatabase();
    const s = await PostgresStore.open({ url, log: silentLogger, writeAttempts: 1 });
    await s.pool.query("ALTER TABLE laas_heals ADD CONSTRAINT no_bad CHECK (host <> 'bad')");
    await s.putHeal(heal('w1', { host: 'bad' }));
    const err = await s.flush().catch((e: unknown) => e);
    expect((err as LaasError).code).toBe('STORE_WRITE_FAILED');
    await s.flush(); // reported once
    await s.close();
  });

  it('moves the identity arrays an older laas kept in laas_state into rows, and drops the arrays', async () => {
    const url = await server.createDatabase();
    // A database as laas left it before identities were rows: migrations 1 and 2, and the arrays.
    const old = new pg.Client({ connectionString: url });
    await old.connect();
    await old.query('CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    for (const m of MIGRATIONS.filter((x) => x.version <= 2)) {
      await old.query(m.sql);
      await old.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
    }
    const agents = [
      { id: 'web-1', hash: 'h1', enrolledAt: '2026-01-01T00:00:00.000Z', enrolledWith: 'tok-1', revokedAt: null, revokedBy: null },
      { id: 'web-2', hash: 'h2', enrolledAt: '2026-01-01T00:00:00.000Z', enrolledWith: 'tok-1', revokedAt: '2026-01-02T00:00:00.000Z', revokedBy: 'ops' },
    ];
    const tokens = [
      { id: 'tok-1', hash: 'th', usesLeft: 3, expiresAt: '2099-01-01T00:00:00.000Z', createdBy: 'ops', createdAt: '2026-01-01T00:00:00.000Z', labels: {} },
    ];
    await old.query("INSERT INTO laas_state (key, value) VALUES ('agents', $1), ('enrollTokens', $2)", [JSON.stringify(agents), JSON.stringify(tokens)]);
    await old.end();

    const s = await PostgresStore.open({ url, log: silentLogger });
    expect((await s.listAgentCredentials()).map(({ rev: _r, ...c }) => c)).toEqual(agents);
    expect(await s.getState('agents')).toBeUndefined();
    expect(await s.getState('enrollTokens')).toBeUndefined();
    const out = await s.enrollAgent({
      tokenHash: 'th',
      now: '2026-02-01T00:00:00.000Z',
      credential: { id: 'web-3', hash: 'h3', enrolledAt: '2026-02-01T00:00:00.000Z', revokedAt: null, revokedBy: null },
      claim: { id: 'web-3', kind: 'enrolled', token: null, from: '-', at: '2026-02-01T00:00:00.000Z' },
    });
    expect(out.ok && out.token.usesLeft).toBe(2);
    await s.close();
  });

  it('prunes resolved alerts and finished work orders past the cap, oldest first, in bounded rounds; open ones stay', async () => {
    const url = await server.createDatabase();
    const s = await PostgresStore.open({ url, log: silentLogger, pruneEveryMs: 0, retention: { maxHistory: 5, batch: 3, maxBatches: 2 } });
    const t = (n: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString();
    for (let i = 0; i < 15; i++) void s.putAlert(alert(`r${String(i).padStart(2, '0')}`, { state: 'resolved', startsAt: t(i), endsAt: t(100 + i) }));
    for (let i = 0; i < 3; i++) void s.putAlert(alert(`open${i}`, { state: 'firing', startsAt: t(i) }));
    for (let i = 0; i < 12; i++) void s.putHeal(heal(`w${String(i).padStart(2, '0')}`, { state: 'succeeded', createdAt: t(i), finishedAt: t(200 + i) }));
    for (let i = 0; i < 2; i++) void s.putHeal(heal(`live${i}`, { state: 'awaiting-approval', createdAt: t(i) }));
    await s.flush();
    // One round deletes at most 2 batches of 3 per table: 10 resolved alerts and 7 finished orders are over the cap.
    expect(await s.prune()).toEqual({ alerts: 6, heals: 6, jobRuns: 0 });
    expect(await s.prune()).toEqual({ alerts: 4, heals: 1, jobRuns: 0 });
    expect(await s.prune()).toEqual({ alerts: 0, heals: 0, jobRuns: 0 });
    expect((await s.listAlerts({ state: 'resolved' })).map((a) => a.id).sort()).toEqual(['r10', 'r11', 'r12', 'r13', 'r14']);
    expect((await s.listAlerts({ state: 'firing' })).map((a) => a.id).sort()).toEqual(['open0', 'open1', 'open2']);
    expect((await s.listHeals({ state: 'succeeded' })).map((h) => h.id).sort()).toEqual(['w07', 'w08', 'w09', 'w10', 'w11']);
    expect((await s.listHeals({ state: 'awaiting-approval' })).map((h) => h.id).sort()).toEqual(['live0', 'live1']);
    await s.close();
  });

  it('prunes on its own timer, and drops schedule leases long past', async () => {
    const url = await server.createDatabase();
    const s = await PostgresStore.open({ url, log: silentLogger, pruneEveryMs: 50, retention: { maxHistory: 2 } });
    for (let i = 0; i < 6; i++) void s.putAlert(alert(`r${i}`, { state: 'resolved', endsAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString() }));
    await s.pool.query(
      "INSERT INTO laas_job_runs (job, fire_at, host, controller, claimed_at) VALUES ('j', 'old', 'h', 'c', now() - interval '2 days'), ('j', 'new', 'h', 'c', now())",
    );
    await s.flush();
    await waitFor(
      'the timer pruned',
      async () => (await s.listAlerts()).length === 2 && Number((await s.pool.query('SELECT count(*) AS n FROM laas_job_runs')).rows[0].n) === 1,
      10_000,
    );
    expect((await s.pool.query('SELECT fire_at FROM laas_job_runs')).rows).toEqual([{ fire_at: 'new' }]);
    await s.close();
  });
});
