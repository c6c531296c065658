import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../../../controller/store/postgres.js';
import { silentLogger } from '../../../../protocol/index.js';
import { postgresMissing, startPostgres, type TestPostgres } from '../../../helpers/postgres.js';
import { heal } from '../../../helpers/store-suite.js';

/**
 * PostgreSQL's jsonb refuses the escapes of NUL and of lone surrogates; one such write used to
 * fail its retries and then every flush after it (the result acks, the heal write-ahead) for
 * everyone. Text reaching the store from anywhere (an API comment, an older agent) must not.
 */
describe.skipIf(postgresMissing())('postgres store: text PostgreSQL cannot hold', () => {
  let server: TestPostgres;
  let store: PostgresStore;
  beforeAll(async () => {
    server = await startPostgres();
    store = await PostgresStore.open({ url: server.url, log: silentLogger, writeAttempts: 1 });
  }, 90_000);
  afterAll(async () => {
    await store?.close().catch(() => undefined);
    await server?.stop();
  }, 30_000);

  it('stores NUL and lone surrogates as U+FFFD, keeps everything else as it was, and later flushes still succeed', async () => {
    const comment = 'approved\u0000 by ops \ud800 😀 \\u0000 stays text, \\\u0000 is a NUL after a backslash \u0001\u001b[1m';
    void store.putHeal(heal('nul-1', { history: [{ at: '2026-01-01T00:00:00.000Z', state: 'approved', note: comment }] }));
    await store.flush();
    const back = await store.getHeal('nul-1');
    expect(back?.history[0].note).toBe('approved\ufffd by ops \ufffd 😀 \\u0000 stays text, \\\ufffd is a NUL after a backslash \u0001\u001b[1m');
    await store.putState('silences', [{ comment: 'x\u0000', createdBy: '\udc00' }]);
    await store.flush();
    expect(await store.getState('silences')).toEqual([{ comment: 'x\ufffd', createdBy: '\ufffd' }]);
    void store.putHeal(heal('after-1'));
    await store.flush();
    expect((await store.listHeals()).map((h) => h.id).sort()).toEqual(['after-1', 'nul-1']);
  });
});
