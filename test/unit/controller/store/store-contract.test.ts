import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { LowdbStore } from '../../../../controller/store/lowdb.js';
import { MemoryStore } from '../../../../controller/store/memory.js';
import { PostgresStore } from '../../../../controller/store/postgres.js';
import { silentLogger } from '../../../../protocol/index.js';
import { postgresMissing, startPostgres, type TestPostgres } from '../../../helpers/postgres.js';
import { storeSuite } from '../../../helpers/store-suite.js';

// The same behaviour checks against every store.

storeSuite('memory', () => ({ open: async () => new MemoryStore() }), { durable: false });

storeSuite('lowdb', () => {
  const dir = mkdtempSync(join(tmpdir(), 'laas-store-'));
  return {
    open: () => LowdbStore.open({ dataDir: dir, log: silentLogger }),
    reopen: () => LowdbStore.open({ dataDir: dir, log: silentLogger }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

// The same file store with every flush() going to the journal (as a big store's do).
storeSuite('lowdb, journalling', () => {
  const dir = mkdtempSync(join(tmpdir(), 'laas-store-'));
  return {
    open: () => LowdbStore.open({ dataDir: dir, log: silentLogger, journalAboveBytes: 0 }),
    reopen: () => LowdbStore.open({ dataDir: dir, log: silentLogger, journalAboveBytes: 0 }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe.skipIf(postgresMissing())('postgres', () => {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await startPostgres();
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
  }, 30_000);

  storeSuite('postgres', () => {
    let url: string;
    return {
      open: async () => {
        url = await server.createDatabase();
        return PostgresStore.open({ url, log: silentLogger });
      },
      reopen: () => PostgresStore.open({ url, log: silentLogger }),
    };
  });
});
