import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LowdbStore } from '../../controller/store/lowdb.js';
import { loadOrCreateSigningKey } from '../../controller/security/keys.js';
import { PostgresStore } from '../../controller/store/postgres.js';
import { silentLogger } from '../../protocol/index.js';
import { Fleet } from '../helpers/fleet.js';
import { CLUSTER_SECRET, postgresMissing, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { laasRun, stopAll } from '../helpers/procs.js';
import { alert, heal, host } from '../helpers/store-suite.js';

describe.skipIf(postgresMissing())('laas store migrate: lowdb to PostgreSQL', () => {
  let server: TestPostgres;
  const fleet = new Fleet();
  beforeAll(async () => {
    server = await startPostgres();
  }, 90_000);
  afterAll(async () => {
    await stopAll();
    await server?.stop();
    await fleet.cleanup();
  }, 30_000);

  it('copies every record once, prints counts, and a controller on PostgreSQL serves them', async () => {
    // A controller's data dir with history in it.
    const lowdb = await LowdbStore.open({ dataDir: fleet.dataDir, log: silentLogger });
    await lowdb.putHost(host('web-1'));
    await lowdb.putHost(host('web-2'));
    for (let i = 0; i < 3; i++) await lowdb.putAlert(alert(`a${i}`, { state: 'resolved', endsAt: '2026-01-01T01:00:00.000Z' }));
    await lowdb.putHeal(heal('w-old', { state: 'succeeded', finishedAt: '2026-01-01T00:01:00.000Z', reason: 'the condition cleared' }));
    await lowdb.putState('silences', []);
    // Identities: an enrollment token, the agent it enrolled (which claims its id), and an id a shared token claimed.
    await lowdb.addEnrollToken(
      { id: 'tok-1', hash: 'th', usesLeft: 2, expiresAt: '2099-01-01T00:00:00.000Z', createdBy: 'ops', createdAt: '2026-01-01T00:00:00.000Z', labels: {} },
      '2026-01-01T00:00:00.000Z',
    );
    await lowdb.enrollAgent({
      tokenHash: 'th',
      now: '2026-01-01T00:00:01.000Z',
      credential: { id: 'web-9', hash: 'ch', enrolledAt: '2026-01-01T00:00:01.000Z', revokedAt: null, revokedBy: null },
      claim: { id: 'web-9', kind: 'enrolled', token: null, from: '10.0.0.9', at: '2026-01-01T00:00:01.000Z' },
    });
    await lowdb.claimAgentId({ id: 'web-1', kind: 'shared', token: 'fleet', from: '10.0.0.1', at: '2026-01-01T00:00:02.000Z' }, 100);
    await lowdb.close();
    const key = loadOrCreateSigningKey(fleet.dataDir);

    // The signing key goes into the database sealed with the cluster secret: without it, nothing is copied.
    const refused = await laasRun(['store', 'migrate', '--from', fleet.dataDir], { LAAS_STORE_URL: server.url });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('CONFIG_INVALID');
    expect(refused.stderr).toContain('give the file the controllers name in "cluster": {"secret": …} with --secret-file, or set LAAS_CLUSTER_SECRET');

    const first = await laasRun(['store', 'migrate', '--from', fleet.dataDir], { LAAS_STORE_URL: server.url, LAAS_CLUSTER_SECRET: CLUSTER_SECRET });
    expect(first.stderr).not.toMatch(/"level":50/);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^hosts +copied 2, already there 0$/m);
    expect(first.stdout).toMatch(/^alerts +copied 3, already there 0$/m);
    expect(first.stdout).toMatch(/^heals +copied 1, already there 0$/m);
    expect(first.stdout).toMatch(/^state +copied 2, already there 0$/m); // silences + the signing key
    expect(first.stdout).toMatch(/^identities +copied 4, already there 0$/m); // the token, the credential, two claims
    const inDb = await PostgresStore.open({ url: server.url, log: silentLogger, pruneEveryMs: 0 });
    expect((await inDb.pool.query("SELECT value::text AS v FROM laas_state WHERE key = 'signing-key'")).rows[0].v).not.toContain('PRIVATE KEY');
    expect(await inDb.getAgentCredential('web-9')).toMatchObject({ hash: 'ch', enrolledWith: 'tok-1', revokedAt: null });
    expect(await inDb.getAgentClaim('web-1')).toMatchObject({ kind: 'shared', token: 'fleet', from: '10.0.0.1' });
    await inDb.close();

    // Again: nothing is copied twice, and what controllers wrote since is not overwritten.
    const pgStore = await PostgresStore.open({ url: server.url, log: silentLogger });
    await pgStore.putHeal(heal('w-old', { state: 'succeeded', finishedAt: '2026-01-01T00:01:00.000Z', reason: 'changed after the migration' }));
    await pgStore.close();
    const again = await laasRun([
      'store',
      'migrate',
      '--from',
      join(fleet.dataDir, 'laas.json'),
      '--to',
      server.url,
      '--secret-file',
      fleet.writeRaw('cluster.secret', `${CLUSTER_SECRET}\n`),
    ]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^heals +copied 0, already there 1$/m);
    expect(again.stdout).toMatch(/^alerts +copied 0, already there 3$/m);

    // A controller on PostgreSQL shows the migrated history and signs with the migrated key.
    await fleet.startController({ store: { type: 'postgres', url: server.url }, cluster: { secret: CLUSTER_SECRET } });
    const heals = await fleet.api<{ id: string; reason: string }[]>('/api/v1/heals');
    expect(heals.map((h) => h.id)).toEqual(['w-old']);
    expect(heals[0].reason).toBe('changed after the migration');
    expect(await fleet.api<unknown[]>('/api/v1/alerts')).toHaveLength(3);
    expect((await fleet.api<{ id: string }[]>('/api/v1/hosts')).map((h) => h.id).sort()).toEqual(['web-1', 'web-2']);
    const post = (path: string, body: unknown) =>
      fleet.api<Record<string, string>>(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const { token } = await post('/api/v1/enroll-tokens', { uses: 1 });
    const enrolled = await post('/v1/enroll', { token, agentId: 'web-3' });
    expect(enrolled.signingKey).toBe(key.publicKeyPem);
  });

  it('refuses a data dir a running lowdb controller holds, and a bad --from, with clear messages', async () => {
    // A lowdb controller still running on the data dir holds its lock (here, this process does).
    const held = await LowdbStore.open({ dataDir: fleet.dataDir, log: silentLogger });
    const busy = await laasRun(['store', 'migrate', '--from', fleet.dataDir, '--to', server.url]);
    await held.close();
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain('STORE_LOCKED');
    const none = await laasRun(['store', 'migrate', '--from', join(fleet.dir, 'nowhere'), '--to', server.url]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no laas.json here');
    expect(existsSync(join(fleet.dir, 'nowhere'))).toBe(false);
  });
});
