import type pg from 'pg';
import { inTransaction } from './pg-transaction.js';
import type { AgentClaim, AgentCredentialRecord, ClaimOutcome, EnrollOutcome, EnrollTokenRecord } from './store.js';

/**
 * Migration 3: agent identities as rows (they were whole arrays in laas_state, which two
 * controllers enrolling at once could overwrite, and which let one token use be spent twice).
 * The arrays an older laas wrote are moved into the tables and dropped.
 */
export const IDENTITY_MIGRATION = `
  CREATE TABLE laas_enroll_tokens (
    id text COLLATE "C" PRIMARY KEY, hash text COLLATE "C" NOT NULL UNIQUE, uses_left integer NOT NULL,
    expires_at text COLLATE "C" NOT NULL, created_by text NOT NULL, created_at text NOT NULL, labels jsonb NOT NULL);
  CREATE SEQUENCE laas_agent_credentials_rev;
  CREATE TABLE laas_agent_credentials (
    id text COLLATE "C" PRIMARY KEY, hash text COLLATE "C" NOT NULL, enrolled_at text NOT NULL, enrolled_with text NOT NULL,
    revoked_at text, revoked_by text, rev bigint NOT NULL DEFAULT nextval('laas_agent_credentials_rev'));
  CREATE INDEX laas_agent_credentials_by_rev ON laas_agent_credentials (rev);
  CREATE INDEX laas_agent_credentials_by_hash ON laas_agent_credentials (hash);
  CREATE TABLE laas_agent_claims (
    id text COLLATE "C" PRIMARY KEY, kind text NOT NULL, token text COLLATE "C", from_addr text NOT NULL, at text NOT NULL);
  CREATE INDEX laas_agent_claims_by_token ON laas_agent_claims (token);
  INSERT INTO laas_enroll_tokens (id, hash, uses_left, expires_at, created_by, created_at, labels)
    SELECT e->>'id', e->>'hash', (e->>'usesLeft')::integer, e->>'expiresAt', coalesce(e->>'createdBy', ''), coalesce(e->>'createdAt', ''), coalesce(e->'labels', '{}'::jsonb)
      FROM laas_state s CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(s.value) = 'array' THEN s.value ELSE '[]'::jsonb END) e
     WHERE s.key = 'enrollTokens' ON CONFLICT DO NOTHING;
  INSERT INTO laas_agent_credentials (id, hash, enrolled_at, enrolled_with, revoked_at, revoked_by)
    SELECT e->>'id', e->>'hash', coalesce(e->>'enrolledAt', ''), coalesce(e->>'enrolledWith', ''), e->>'revokedAt', e->>'revokedBy'
      FROM laas_state s CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(s.value) = 'array' THEN s.value ELSE '[]'::jsonb END) e
     WHERE s.key = 'agents' ON CONFLICT DO NOTHING;
  DELETE FROM laas_state WHERE key IN ('enrollTokens', 'agents');`;

/**
 * Credential changes take this lock, so their revs are committed in the order they were handed
 * out: a poller reading "rev > last seen" never skips a change that committed late.
 */
const CREDENTIALS_LOCK = 0x1aa5_0003;
/** Claims of one shared token take this lock (with the token's hash), so two cannot both pass its limit. */
const CLAIMS_LOCK = 0x1aa5_0004;

interface TokenRow {
  id: string;
  hash: string;
  uses_left: number;
  expires_at: string;
  created_by: string;
  created_at: string;
  labels: Record<string, string>;
}
interface CredentialRow {
  id: string;
  hash: string;
  enrolled_at: string;
  enrolled_with: string;
  revoked_at: string | null;
  revoked_by: string | null;
  rev: string;
}
interface ClaimRow {
  id: string;
  kind: 'shared' | 'enrolled';
  token: string | null;
  from_addr: string;
  at: string;
}

const tokenOf = (r: TokenRow): EnrollTokenRecord => ({
  id: r.id,
  hash: r.hash,
  usesLeft: r.uses_left,
  expiresAt: r.expires_at,
  createdBy: r.created_by,
  createdAt: r.created_at,
  labels: r.labels,
});
const credentialOf = (r: CredentialRow): AgentCredentialRecord => ({
  id: r.id,
  hash: r.hash,
  enrolledAt: r.enrolled_at,
  enrolledWith: r.enrolled_with,
  revokedAt: r.revoked_at,
  revokedBy: r.revoked_by,
  rev: Number(r.rev),
});
const claimOf = (r: ClaimRow): AgentClaim => ({ id: r.id, kind: r.kind, token: r.token, from: r.from_addr, at: r.at });

/** The identity operations of the PostgreSQL store: each one statement, or one short transaction. */
export class PostgresIdentity {
  constructor(private readonly pool: pg.Pool) {}

  async addEnrollToken(t: EnrollTokenRecord, now: string): Promise<void> {
    await this.tx(async (c) => {
      await c.query('DELETE FROM laas_enroll_tokens WHERE uses_left <= 0 OR expires_at <= $1', [now]);
      await c.query('INSERT INTO laas_enroll_tokens (id, hash, uses_left, expires_at, created_by, created_at, labels) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
        t.id,
        t.hash,
        t.usesLeft,
        t.expiresAt,
        t.createdBy,
        t.createdAt,
        JSON.stringify(t.labels),
      ]);
    });
  }

  async enrollAgent(input: {
    tokenHash: string;
    credential: Omit<AgentCredentialRecord, 'rev' | 'enrolledWith'>;
    claim: AgentClaim;
    now: string;
  }): Promise<EnrollOutcome> {
    return this.tx(async (c): Promise<EnrollOutcome> => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [CREDENTIALS_LOCK]);
      // The spend is one conditional row update: of two controllers spending the last use, one gets no row.
      const spent = (
        await c.query<TokenRow>('UPDATE laas_enroll_tokens SET uses_left = uses_left - 1 WHERE hash = $1 AND uses_left > 0 AND expires_at > $2 RETURNING *', [
          input.tokenHash,
          input.now,
        ])
      ).rows[0];
      if (!spent) {
        const t = (await c.query<TokenRow>('SELECT * FROM laas_enroll_tokens WHERE hash = $1', [input.tokenHash])).rows[0];
        if (!t) return { ok: false, reason: 'unknown-token' };
        if (t.expires_at <= input.now) return { ok: false, reason: 'expired', expiresAt: t.expires_at };
        return { ok: false, reason: 'used' };
      }
      const cr = input.credential;
      const added = await c.query(
        `INSERT INTO laas_agent_credentials (id, hash, enrolled_at, enrolled_with, revoked_at, revoked_by) VALUES ($1, $2, $3, $4, NULL, NULL)
         ON CONFLICT (id) DO UPDATE SET hash = EXCLUDED.hash, enrolled_at = EXCLUDED.enrolled_at, enrolled_with = EXCLUDED.enrolled_with,
           revoked_at = NULL, revoked_by = NULL, rev = nextval('laas_agent_credentials_rev')
         WHERE laas_agent_credentials.revoked_at IS NOT NULL`,
        [cr.id, cr.hash, cr.enrolledAt, spent.id],
      );
      if (added.rowCount === 0) throw new Refusal({ ok: false, reason: 'enrolled' });
      await this.putClaim(c, input.claim);
      return { ok: true, token: tokenOf(spent) };
    }).catch((e: unknown) => {
      if (e instanceof Refusal) return e.outcome;
      throw e;
    });
  }

  async listAgentCredentials(sinceRev?: number): Promise<AgentCredentialRecord[]> {
    const { rows } =
      sinceRev === undefined
        ? await this.pool.query<CredentialRow>('SELECT * FROM laas_agent_credentials ORDER BY rev')
        : await this.pool.query<CredentialRow>('SELECT * FROM laas_agent_credentials WHERE rev > $1 ORDER BY rev', [sinceRev]);
    return rows.map(credentialOf);
  }

  async getAgentCredential(id: string): Promise<AgentCredentialRecord | undefined> {
    const r = (await this.pool.query<CredentialRow>('SELECT * FROM laas_agent_credentials WHERE id = $1', [id])).rows[0];
    return r && credentialOf(r);
  }

  async revokeAgentCredential(id: string, by: string, at: string): Promise<AgentCredentialRecord | undefined> {
    return this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [CREDENTIALS_LOCK]);
      const r = (
        await c.query<CredentialRow>(
          "UPDATE laas_agent_credentials SET revoked_at = $3, revoked_by = $2, rev = nextval('laas_agent_credentials_rev') WHERE id = $1 AND revoked_at IS NULL RETURNING *",
          [id, by, at],
        )
      ).rows[0];
      return r && credentialOf(r);
    });
  }

  async getAgentClaim(id: string): Promise<AgentClaim | undefined> {
    const r = (await this.pool.query<ClaimRow>('SELECT * FROM laas_agent_claims WHERE id = $1', [id])).rows[0];
    return r && claimOf(r);
  }

  async claimAgentId(claim: AgentClaim, maxIds: number): Promise<ClaimOutcome> {
    // The common case, an agent coming back, needs no lock.
    const held = await this.getAgentClaim(claim.id);
    if (held) return { outcome: 'held', claim: held };
    return this.tx(async (c): Promise<ClaimOutcome> => {
      if (claim.token !== null) {
        await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [CLAIMS_LOCK, claim.token]);
        const count = Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM laas_agent_claims WHERE token = $1', [claim.token])).rows[0].n);
        if (count >= maxIds) return { outcome: 'limit', count };
      }
      const r = (
        await c.query<ClaimRow>(
          'INSERT INTO laas_agent_claims (id, kind, token, from_addr, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING RETURNING *',
          [claim.id, claim.kind, claim.token, claim.from, claim.at],
        )
      ).rows[0];
      if (r) return { outcome: 'claimed', claim: claimOf(r) };
      // Another claimant of this id won the race.
      return { outcome: 'held', claim: claimOf((await c.query<ClaimRow>('SELECT * FROM laas_agent_claims WHERE id = $1', [claim.id])).rows[0]) };
    });
  }

  async forgetAgentClaim(id: string): Promise<boolean> {
    return this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [CREDENTIALS_LOCK]);
      const claims = (await c.query('DELETE FROM laas_agent_claims WHERE id = $1', [id])).rowCount ?? 0;
      const creds = (await c.query('DELETE FROM laas_agent_credentials WHERE id = $1 AND revoked_at IS NOT NULL', [id])).rowCount ?? 0;
      return claims + creds > 0;
    });
  }

  private async putClaim(c: pg.PoolClient, claim: AgentClaim): Promise<void> {
    await c.query(
      `INSERT INTO laas_agent_claims (id, kind, token, from_addr, at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, token = EXCLUDED.token, from_addr = EXCLUDED.from_addr, at = EXCLUDED.at`,
      [claim.id, claim.kind, claim.token, claim.from, claim.at],
    );
  }

  private tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, fn);
  }
}

/** A refusal found mid-transaction: rolls it back (the token use is not spent) and becomes the outcome. */
class Refusal extends Error {
  constructor(readonly outcome: EnrollOutcome) {
    super('refused');
  }
}
