import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { LaasError, type Logger } from '../../protocol/index.js';
import { ClusterSecret } from '../security/cluster-secret.js';
import { CLAIM_STATE_PREFIX, CREDENTIALS_REV_STATE, CREDENTIALS_STATE, ENROLL_TOKENS_STATE } from './identity-memory.js';
import { LowdbStore } from './lowdb.js';
import { PostgresStore } from './postgres.js';
import type { AgentClaim, AgentCredentialRecord, EnrollTokenRecord } from './store.js';

export interface MigrateCounts {
  hosts: { copied: number; present: number };
  alerts: { copied: number; present: number };
  heals: { copied: number; present: number };
  state: { copied: number; present: number };
  /** Enrollment tokens, agent credentials and claims of agent ids, each a row of its own table. */
  identities: { copied: number; present: number };
}

/** State key under which controllers sharing a database keep the one instruction-signing key. */
export const SIGNING_KEY_STATE = 'signing-key';

/**
 * Copies a lowdb store (its data dir, or the laas.json in it) into PostgreSQL in one
 * transaction. Records already there are left alone, so running it again copies nothing
 * twice and never overwrites what controllers wrote since. The signing key goes along, sealed
 * with the cluster secret (never in the clear in the database), so agents that pinned it keep
 * accepting instructions. The lowdb store must not be in use (its lock is taken, as a
 * controller would).
 */
export async function migrateLowdbToPostgres(from: string, url: string, log: Logger, opts: { clusterSecret?: string } = {}): Promise<MigrateCounts> {
  const dataDir = existsSync(from) && statSync(from).isFile() ? dirname(from) : from;
  if (existsSync(from) && statSync(from).isFile() && basename(from) !== 'laas.json') {
    throw new Error(`${from}: expected a laas data dir or its laas.json`);
  }
  if (!existsSync(join(dataDir, 'laas.json'))) throw new Error(`${dataDir}: no laas.json here; give the controller's dataDir`);
  const keyFile = join(dataDir, 'signing-key.pem');
  const source = await LowdbStore.open({ dataDir, log });
  try {
    if (existsSync(keyFile) && !opts.clusterSecret) {
      throw new LaasError(
        'CONFIG_INVALID',
        `${keyFile}: the signing key goes into the database sealed with the cluster secret; give the file the controllers name in "cluster": {"secret": …} with --secret-file, or set LAAS_CLUSTER_SECRET`,
      );
    }
    if (opts.clusterSecret !== undefined && opts.clusterSecret.length < 32)
      throw new LaasError(
        'CONFIG_INVALID',
        `the cluster secret has ${opts.clusterSecret.length} characters; controllers need at least 32 (e.g. "openssl rand -base64 32")`,
      );
    const secret = opts.clusterSecret ? new ClusterSecret(opts.clusterSecret) : undefined;
    const target = await PostgresStore.open({ url, log, pruneEveryMs: 0 });
    try {
      const hosts = await source.listHosts();
      const alerts = await source.listAlerts();
      const heals = await source.listHeals();
      const all = source.stateEntries();
      const identity = new Set([ENROLL_TOKENS_STATE, CREDENTIALS_STATE, CREDENTIALS_REV_STATE]);
      const state = all.filter(([k]) => !identity.has(k) && !k.startsWith(CLAIM_STATE_PREFIX));
      if (secret) state.push([SIGNING_KEY_STATE, secret.seal(readFileSync(keyFile, 'utf8'))]);
      const tokens = (await source.getState<EnrollTokenRecord[]>(ENROLL_TOKENS_STATE)) ?? [];
      const credentials = await source.listAgentCredentials();
      const claims = all.filter(([k]) => k.startsWith(CLAIM_STATE_PREFIX)).map(([, v]) => v as AgentClaim);
      return await target.transaction(async (c) => {
        const count = async (sqls: [string, unknown[]][]) => {
          let copied = 0;
          for (const [sql, params] of sqls) copied += (await c.query(sql, params)).rowCount ?? 0;
          return { copied, present: sqls.length - copied };
        };
        const j = (v: unknown) => JSON.stringify(v);
        return {
          hosts: await count(
            hosts.map((h) => ['INSERT INTO laas_hosts (id, doc) VALUES ($1, $2) ON CONFLICT DO NOTHING', [h.id, j({ ...h, connected: false })]]),
          ),
          alerts: await count(
            alerts.map((a) => [
              'INSERT INTO laas_alerts (id, state, host, starts_at, ends_at, doc) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING',
              [a.id, a.state, a.host, a.startsAt, a.endsAt, j(a)],
            ]),
          ),
          heals: await count(
            heals.map((h) => [
              'INSERT INTO laas_heals (id, state, host, rule, created_at, finished_at, doc) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING',
              [h.id, h.state, h.host, h.rule, h.createdAt, h.finishedAt, j(h)],
            ]),
          ),
          state: await count(state.map(([k, v]) => ['INSERT INTO laas_state (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING', [k, j(v)]])),
          identities: await count([
            ...tokens.map((t): [string, unknown[]] => [
              'INSERT INTO laas_enroll_tokens (id, hash, uses_left, expires_at, created_by, created_at, labels) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING',
              [t.id, t.hash, t.usesLeft, t.expiresAt, t.createdBy, t.createdAt, j(t.labels ?? {})],
            ]),
            ...credentials.map((c: AgentCredentialRecord): [string, unknown[]] => [
              'INSERT INTO laas_agent_credentials (id, hash, enrolled_at, enrolled_with, revoked_at, revoked_by) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING',
              [c.id, c.hash, c.enrolledAt, c.enrolledWith, c.revokedAt, c.revokedBy],
            ]),
            ...claims.map((c): [string, unknown[]] => [
              'INSERT INTO laas_agent_claims (id, kind, token, from_addr, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING',
              [c.id, c.kind, c.token, c.from, c.at],
            ]),
          ]),
        };
      });
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}
