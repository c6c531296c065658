import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { ErrorCode } from '../../protocol/index.js';
import type { AgentCredentialRecord, EnrollTokenRecord } from '../model.js';
import type { Store } from '../store/store.js';
import { sha256, sharedTokens, type SharedToken, type SharedTokenConfig } from './agent-tokens.js';

export type EnrollToken = EnrollTokenRecord;
export type AgentCredential = AgentCredentialRecord;

/** Who the bearer token on an agent link is: a shared token (which one), or one enrolled agent. */
export type Identity = { kind: 'shared'; token: SharedToken } | { kind: 'agent'; id: string; hash: string };

/** Why a hello was refused; `reason` labels the metric, `code` closes the link. */
export interface HelloRefusal {
  reason: 'enrolled' | 'revoked' | 'not-allowed' | 'claimed' | 'host-limit';
  code: ErrorCode;
  message: string;
}

const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
/** The address of "ip:port". */
const addressOf = (remote: string) => remote.replace(/:\d+$/, '');

/**
 * Agent identities: shared tokens (optionally restricted to ids and labels, each claiming the ids
 * it says hello as first), one-time (or limited-use, expiring) enrollment tokens, and the
 * credential each enrolled agent gets. Only hashes are kept. Credentials are cached for the
 * upgrade check; the hello checks the store, and refresh() picks up what other controllers changed.
 */
export class AgentAuth {
  private readonly shared: SharedToken[];
  private byHash = new Map<string, AgentCredential>();
  private byId = new Map<string, AgentCredential>();
  private rev = 0;

  constructor(
    private readonly store: Store,
    sharedTokenConfig: readonly SharedTokenConfig[],
    private readonly now: () => number = Date.now,
  ) {
    this.shared = sharedTokens(sharedTokenConfig);
  }

  async restore(): Promise<void> {
    this.byHash = new Map();
    this.byId = new Map();
    this.rev = 0;
    this.remember(await this.store.listAgentCredentials());
  }

  /** Credentials changed since the last look (by any controller); returns them, the cache updated. */
  async refresh(): Promise<AgentCredential[]> {
    const changed = await this.store.listAgentCredentials(this.rev);
    this.remember(changed);
    return changed;
  }

  /** Who a bearer token on the agent link is, or undefined when it is no one. */
  identify(token: string): Identity | undefined {
    const h = sha256(token);
    const shared = this.shared.find((t) => same(t.hash, h));
    if (shared) return { kind: 'shared', token: shared };
    const agent = this.byHash.get(h);
    return agent && !agent.revokedAt ? { kind: 'agent', id: agent.id, hash: agent.hash } : undefined;
  }

  /**
   * Whether this hello may speak for its agent id. An enrolled credential: only if it is still
   * valid in the store. A shared token: only for an id no credential has, inside the token's
   * restriction, and claimed by this token (the first to say hello as an id claims it).
   */
  async admit(identity: Identity, hello: { agentId: string; labels: Record<string, string> }, remote: string): Promise<HelloRefusal | undefined> {
    const id = hello.agentId;
    if (identity.kind === 'agent') {
      const cred = await this.store.getAgentCredential(id);
      if (cred) this.remember([cred], false);
      if (!cred || cred.revokedAt || cred.hash !== identity.hash) {
        return {
          reason: 'revoked',
          code: 'AGENT_CREDENTIAL_REVOKED',
          message: `the credential of agent "${id}" was revoked${cred?.revokedBy ? ` by ${cred.revokedBy}` : ''}; enroll it again with a new token`,
        };
      }
      return undefined;
    }
    const token = identity.token;
    const outside = token.allows(id, hello.labels);
    if (outside) return { reason: 'not-allowed', code: 'AGENT_ID_NOT_ALLOWED', message: `shared token ${token.where}: ${outside}` };
    let cred = this.byId.get(id);
    // A revoked credential may have been forgotten through another controller (a delete, which polling does not see).
    if (cred?.revokedAt && !(await this.store.getAgentCredential(id))) {
      this.drop(cred);
      cred = undefined;
    }
    if (cred) return enrolled(id, cred.revokedAt !== null);
    const out = await this.store.claimAgentId(
      { id, kind: 'shared', token: token.name, from: addressOf(remote), at: new Date(this.now()).toISOString() },
      token.maxHosts,
    );
    if (out.outcome === 'limit') {
      return {
        reason: 'host-limit',
        code: 'AGENT_HOST_LIMIT',
        message: `shared token ${token.where} (${token.name}) has claimed ${out.count} host ids, its limit (maxHosts ${token.maxHosts}); raise "maxHosts" or free ids with "laas agents forget ID"`,
      };
    }
    if (out.claim.kind === 'enrolled') return enrolled(id, true);
    if (out.claim.token !== token.name) {
      return {
        reason: 'claimed',
        code: 'AGENT_ID_CLAIMED',
        message: `agent id "${id}" was first claimed by another token (${out.claim.token}) from ${out.claim.from} at ${out.claim.at}; if it moved on purpose, free it with "laas agents forget ${id}"`,
      };
    }
    return undefined;
  }

  /** Whether a link admitted earlier may stay, given what the cache knows now (e.g. revoked since). */
  stillValid(identity: Identity, hostId: string): boolean {
    const cred = this.byId.get(hostId);
    if (identity.kind === 'agent') return Boolean(cred && !cred.revokedAt && cred.hash === identity.hash);
    return !cred;
  }

  async createEnrollToken(input: {
    uses: number;
    ttlMs: number;
    createdBy: string;
    labels?: Record<string, string>;
  }): Promise<{ token: string; info: Omit<EnrollToken, 'hash'> }> {
    const token = `laas-enroll-${randomBytes(24).toString('base64url')}`;
    const now = this.now();
    const entry: EnrollToken = {
      id: randomUUID(),
      hash: sha256(token),
      usesLeft: input.uses,
      expiresAt: new Date(now + input.ttlMs).toISOString(),
      createdBy: input.createdBy,
      createdAt: new Date(now).toISOString(),
      labels: input.labels ?? {},
    };
    await this.store.addEnrollToken(entry, new Date(now).toISOString());
    const { hash: _h, ...info } = entry;
    return { token, info };
  }

  /** Spends one use of an enrollment token and issues the agent its own credential (one store operation: no use is spent twice). */
  async enroll(token: string, agentId: string, remote = '-'): Promise<{ credential: string } | { error: string }> {
    const now = new Date(this.now()).toISOString();
    const credential = `laas-agent-${randomBytes(32).toString('base64url')}`;
    const out = await this.store.enrollAgent({
      tokenHash: sha256(token),
      now,
      credential: { id: agentId, hash: sha256(credential), enrolledAt: now, revokedAt: null, revokedBy: null },
      claim: { id: agentId, kind: 'enrolled', token: null, from: addressOf(remote), at: now },
    });
    if (!out.ok) {
      switch (out.reason) {
        case 'unknown-token':
          return { error: 'unknown enrollment token' };
        case 'expired':
          return { error: `enrollment token expired at ${out.expiresAt}` };
        case 'used':
          return { error: 'enrollment token already used' };
        case 'enrolled':
          return { error: `agent ${agentId} is already enrolled; revoke it first (laas agents revoke ${agentId}) to enroll it again` };
      }
    }
    await this.refresh().catch(() => undefined); // enrolled whatever the cache does; the next refresh catches up
    return { credential };
  }

  async revoke(agentId: string, by: string): Promise<boolean> {
    const out = await this.store.revokeAgentCredential(agentId, by, new Date(this.now()).toISOString());
    if (out) await this.refresh().catch(() => undefined); // revoked whatever the cache does; hellos read the store
    return Boolean(out);
  }

  /** Frees an id for whichever token says hello as it next; an enrolled agent must be revoked first. */
  async forget(agentId: string): Promise<'forgotten' | 'enrolled' | 'unknown'> {
    const cred = await this.store.getAgentCredential(agentId);
    if (cred && !cred.revokedAt) return 'enrolled';
    const out = await this.store.forgetAgentClaim(agentId);
    if (cred) this.drop(cred);
    return out ? 'forgotten' : 'unknown';
  }

  async list(): Promise<Omit<AgentCredential, 'hash' | 'rev'>[]> {
    return (await this.store.listAgentCredentials()).map(({ hash: _h, rev: _r, ...rest }) => rest);
  }

  /**
   * Puts credentials in the cache. Only a poll in rev order (`advance`) moves the mark the next
   * poll starts from: a single read must not skip changes that came before it.
   */
  private remember(creds: AgentCredential[], advance = true): void {
    for (const c of creds) {
      const old = this.byId.get(c.id);
      if (advance) this.rev = Math.max(this.rev, c.rev);
      if (old && old.rev > c.rev) continue;
      if (old) this.byHash.delete(old.hash);
      this.byId.set(c.id, c);
      this.byHash.set(c.hash, c);
    }
  }

  private drop(cred: AgentCredential): void {
    if (this.byId.get(cred.id) === cred) this.byId.delete(cred.id);
    if (this.byHash.get(cred.hash) === cred) this.byHash.delete(cred.hash);
  }
}

function enrolled(id: string, revoked: boolean): HelloRefusal {
  return {
    reason: 'enrolled',
    code: 'AGENT_ID_ENROLLED',
    message: revoked
      ? `agent id "${id}" was enrolled (its credential is revoked); a shared token may not take it over — enroll the agent again, or free the id with "laas agents forget ${id}"`
      : `agent id "${id}" is enrolled: only its own credential may say hello as it`,
  };
}
