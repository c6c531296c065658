import type { AgentClaim, AgentCredentialRecord, ClaimOutcome, EnrollOutcome, EnrollTokenRecord } from './store.js';

/** The named state records the identity records live in (kept compatible with older data files). */
export const ENROLL_TOKENS_STATE = 'enrollTokens';
export const CREDENTIALS_STATE = 'agents';
/** The last credential rev handed out: revs never repeat, even after a forgotten credential is dropped. */
export const CREDENTIALS_REV_STATE = 'agentsRev';
/** One state record per claimed id: a claim is a small write, not a rewrite of every claim. */
export const CLAIM_STATE_PREFIX = 'claim:';

/** How the identity records reach the store's named state: reads without copying, writes through the store. */
export interface StateAccess {
  read(key: string): unknown;
  write(key: string, value: unknown): void;
  keys(): Iterable<string>;
}

/**
 * Agent identities over the memory (and lowdb) store's named state. Every operation reads and
 * writes without yielding, so within one process each is atomic as the PostgreSQL rows are.
 */
export class MemoryIdentity {
  /** Ids claimed per shared token, counted once from the claims and kept up to date. */
  private perToken: Map<string, number> | undefined;

  constructor(private readonly state: StateAccess) {}

  addEnrollToken(token: EnrollTokenRecord, now: string): void {
    const t = Date.parse(now);
    const live = this.tokens().filter((x) => x.usesLeft > 0 && Date.parse(x.expiresAt) > t);
    this.state.write(ENROLL_TOKENS_STATE, [...live, token]);
  }

  enrollAgent(input: { tokenHash: string; credential: Omit<AgentCredentialRecord, 'rev' | 'enrolledWith'>; claim: AgentClaim; now: string }): EnrollOutcome {
    const tokens = this.tokens();
    const token = tokens.find((x) => x.hash === input.tokenHash);
    if (!token) return { ok: false, reason: 'unknown-token' };
    if (Date.parse(token.expiresAt) <= Date.parse(input.now)) return { ok: false, reason: 'expired', expiresAt: token.expiresAt };
    if (token.usesLeft <= 0) return { ok: false, reason: 'used' };
    const creds = this.credentials();
    if (creds.some((c) => c.id === input.credential.id && !c.revokedAt)) return { ok: false, reason: 'enrolled' };
    const spent = { ...token, usesLeft: token.usesLeft - 1 };
    this.state.write(
      ENROLL_TOKENS_STATE,
      tokens.map((x) => (x === token ? spent : x)),
    );
    this.state.write(CREDENTIALS_STATE, [
      ...creds.filter((c) => c.id !== input.credential.id),
      { ...input.credential, enrolledWith: token.id, rev: this.nextRev(creds) },
    ]);
    this.putClaim(input.claim);
    return { ok: true, token: spent };
  }

  listAgentCredentials(sinceRev?: number): AgentCredentialRecord[] {
    return this.credentials()
      .map((c) => ({ ...c, rev: c.rev ?? 0 }))
      .filter((c) => sinceRev === undefined || c.rev > sinceRev)
      .sort((a, b) => a.rev - b.rev);
  }

  getAgentCredential(id: string): AgentCredentialRecord | undefined {
    const c = this.credentials().find((x) => x.id === id);
    return c && { ...c, rev: c.rev ?? 0 };
  }

  revokeAgentCredential(id: string, by: string, at: string): AgentCredentialRecord | undefined {
    const creds = this.credentials();
    const c = creds.find((x) => x.id === id && !x.revokedAt);
    if (!c) return undefined;
    const revoked = { ...c, revokedAt: at, revokedBy: by, rev: this.nextRev(creds) };
    this.state.write(
      CREDENTIALS_STATE,
      creds.map((x) => (x === c ? revoked : x)),
    );
    return revoked;
  }

  getAgentClaim(id: string): AgentClaim | undefined {
    const c = this.state.read(CLAIM_STATE_PREFIX + id) as AgentClaim | undefined;
    return c && { ...c };
  }

  claimAgentId(claim: AgentClaim, maxIds: number): ClaimOutcome {
    const held = this.getAgentClaim(claim.id);
    if (held) return { outcome: 'held', claim: held };
    const count = claim.token === null ? 0 : (this.counts().get(claim.token) ?? 0);
    if (claim.token !== null && count >= maxIds) return { outcome: 'limit', count };
    this.putClaim(claim);
    return { outcome: 'claimed', claim: { ...claim } };
  }

  forgetAgentClaim(id: string): boolean {
    const held = this.getAgentClaim(id);
    if (held) {
      this.state.write(CLAIM_STATE_PREFIX + id, undefined);
      this.count(held, -1);
    }
    const creds = this.credentials();
    const kept = creds.filter((c) => c.id !== id || !c.revokedAt);
    if (kept.length !== creds.length) this.state.write(CREDENTIALS_STATE, kept);
    return Boolean(held) || kept.length !== creds.length;
  }

  private putClaim(claim: AgentClaim): void {
    const held = this.getAgentClaim(claim.id);
    if (held) this.count(held, -1);
    this.state.write(CLAIM_STATE_PREFIX + claim.id, { ...claim });
    this.count(claim, +1);
  }

  private count(claim: AgentClaim, by: number): void {
    if (claim.token === null) return;
    const counts = this.counts();
    counts.set(claim.token, (counts.get(claim.token) ?? 0) + by);
  }

  private counts(): Map<string, number> {
    if (!this.perToken) {
      this.perToken = new Map();
      for (const key of this.state.keys()) {
        if (!key.startsWith(CLAIM_STATE_PREFIX)) continue;
        const token = (this.state.read(key) as AgentClaim).token;
        if (token !== null) this.perToken.set(token, (this.perToken.get(token) ?? 0) + 1);
      }
    }
    return this.perToken;
  }

  private tokens(): EnrollTokenRecord[] {
    return (this.state.read(ENROLL_TOKENS_STATE) as EnrollTokenRecord[] | undefined) ?? [];
  }

  private credentials(): (Omit<AgentCredentialRecord, 'rev'> & { rev?: number })[] {
    return (this.state.read(CREDENTIALS_STATE) as AgentCredentialRecord[] | undefined) ?? [];
  }

  private nextRev(creds: { rev?: number }[]): number {
    const last = creds.reduce((m, c) => Math.max(m, c.rev ?? 0), Number(this.state.read(CREDENTIALS_REV_STATE) ?? 0));
    this.state.write(CREDENTIALS_REV_STATE, last + 1);
    return last + 1;
  }
}
