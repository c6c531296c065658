import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { parseControllerConfig } from '../../../controller/config.js';
import { MIGRATIONS, PostgresStore } from '../../../controller/store/postgres.js';
import { LaasError, silentLogger } from '../../../protocol/index.js';
import { postgresMissing, startPostgres, type TestPostgres } from '../../helpers/postgres.js';
import { freePort } from '../../helpers/procs.js';
import { heal } from './store-suite.js';

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
    expect(parseControllerConfig({ store: { type: 'postgres', url: { env: 'LAAS_TEST_STORE_URL' } } }, 'c.json').store).toEqual({ type: 'postgres', url: 'postgres://u:p@db:5432/laas' });
    delete process.env.LAAS_TEST_STORE_URL;
    expect(() => parseControllerConfig({ store: { type: 'postgres', url: { env: 'LAAS_TEST_STORE_URL' } } }, 'c.json')).toThrow(/c\.json \/store\/url: environment variable LAAS_TEST_STORE_URL is not set/);
    expect(() => parseControllerConfig({ store: { type: 'mysql' } }, 'c.json')).toThrow(/store/);
    expect(() => parseControllerConfig({ store: { type: 'postgres' } }, 'c.json')).toThrow(/store\/url/);
  });
});

describe.skipIf(postgresMissing())('postgres store: migrations and durability', () => {
  let server: TestPostgres;
  beforeAll(async () => { server = await startPostgres(); }, 90_000);
  afterAll(async () => { await server?.stop(); }, 30_000);

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
    await s.pool.query('ALTER TABLE laas_heals ADD CONSTRAINT no_bad CHECK (host <> \'bad\')');
    await s.putHeal(heal('w1', { host: 'bad' }));
    const err = await s.flush().catch((e: unknown) => e);
    expect((err as LaasError).code).toBe('STORE_WRITE_FAILED');
    await s.flush(); // reported once
    await s.close();
  });
});
