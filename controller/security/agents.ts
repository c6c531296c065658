import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Store } from '../store/store.js';

export interface EnrollToken {
  id: string;
  hash: string;
  usesLeft: number;
  expiresAt: string;
  createdBy: string;
  createdAt: string;
  labels: Record<string, string>;
}

export interface AgentCredential {
  id: string;
  hash: string;
  enrolledAt: string;
  enrolledWith: string;
  revokedAt: string | null;
  revokedBy: string | null;
}

export type Identity = { kind: 'shared' } | { kind: 'agent'; id: string };

const hash = (s: string) => createHash('sha256').update(s).digest('hex');
const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * Agent identities: one-time (or limited-use, expiring) enrollment tokens, and the credential
 * each enrolled agent gets. Only hashes are kept; a revoked credential is refused at once.
 */
export class AgentAuth {
  private tokens: EnrollToken[] = [];
  private agents: AgentCredential[] = [];

  constructor(private readonly store: Store, private readonly sharedTokens: readonly string[], private readonly now: () => number = Date.now) {}

  async restore(): Promise<void> {
    this.tokens = (await this.store.getState<EnrollToken[]>('enrollTokens')) ?? [];
    this.agents = (await this.store.getState<AgentCredential[]>('agents')) ?? [];
  }

  /** Who a bearer token on the agent link is, or undefined when it is no one. */
  identify(token: string): Identity | undefined {
    const h = hash(token);
    if (this.sharedTokens.some((t) => same(hash(t), h))) return { kind: 'shared' };
    const agent = this.agents.find((a) => same(a.hash, h));
    return agent && !agent.revokedAt ? { kind: 'agent', id: agent.id } : undefined;
  }

  async createEnrollToken(input: { uses: number; ttlMs: number; createdBy: string; labels?: Record<string, string> }): Promise<{ token: string; info: Omit<EnrollToken, 'hash'> }> {
    const token = `laas-enroll-${randomBytes(24).toString('base64url')}`;
    const now = this.now();
    const entry: EnrollToken = {
      id: randomUUID(), hash: hash(token), usesLeft: input.uses, expiresAt: new Date(now + input.ttlMs).toISOString(),
      createdBy: input.createdBy, createdAt: new Date(now).toISOString(), labels: input.labels ?? {},
    };
    this.tokens = this.tokens.filter((t) => t.usesLeft > 0 && Date.parse(t.expiresAt) > now);
    this.tokens.push(entry);
    await this.store.putState('enrollTokens', this.tokens);
    const { hash: _h, ...info } = entry;
    return { token, info };
  }

  /** Spends one use of an enrollment token and issues the agent its own credential. */
  async enroll(token: string, agentId: string): Promise<{ credential: string } | { error: string }> {
    const now = this.now();
    const h = hash(token);
    const t = this.tokens.find((x) => same(x.hash, h));
    if (!t) return { error: 'unknown enrollment token' };
    if (Date.parse(t.expiresAt) <= now) return { error: `enrollment token expired at ${t.expiresAt}` };
    if (t.usesLeft <= 0) return { error: 'enrollment token already used' };
    const existing = this.agents.find((a) => a.id === agentId && !a.revokedAt);
    if (existing) return { error: `agent ${agentId} is already enrolled; revoke it first (laas agents revoke ${agentId}) to enroll it again` };
    t.usesLeft--;
    const credential = `laas-agent-${randomBytes(32).toString('base64url')}`;
    this.agents = this.agents.filter((a) => a.id !== agentId);
    this.agents.push({ id: agentId, hash: hash(credential), enrolledAt: new Date(now).toISOString(), enrolledWith: t.id, revokedAt: null, revokedBy: null });
    await this.store.putState('enrollTokens', this.tokens);
    await this.store.putState('agents', this.agents);
    return { credential };
  }

  async revoke(agentId: string, by: string): Promise<boolean> {
    const a = this.agents.find((x) => x.id === agentId && !x.revokedAt);
    if (!a) return false;
    a.revokedAt = new Date(this.now()).toISOString();
    a.revokedBy = by;
    await this.store.putState('agents', this.agents);
    return true;
  }

  list(): Omit<AgentCredential, 'hash'>[] {
    return this.agents.map(({ hash: _h, ...rest }) => rest);
  }
}
