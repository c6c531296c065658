import type {
  AgentClaim,
  AgentCredentialRecord,
  AlertRecord,
  AlertState,
  EnrollTokenRecord,
  HealRecord,
  HealState,
  HostRecord,
  StateKey,
  StateRecords,
} from '../model.js';

/** The domain types are the model's; they are re-exported here for the store's implementations. */
export type {
  AgentClaim,
  AgentCredentialRecord,
  AlertRecord,
  AlertState,
  EnrollTokenRecord,
  HealRecord,
  HealState,
  HostRecord,
  StateKey,
  StateRecords,
} from '../model.js';

export interface ListOptions {
  limit?: number;
}

/** What spending an enrollment token came to; the credential is stored only with `ok`. */
export type EnrollOutcome =
  { ok: true; token: EnrollTokenRecord } | { ok: false; reason: 'unknown-token' | 'used' | 'enrolled' } | { ok: false; reason: 'expired'; expiresAt: string };

/** What a claim of an agent id came to: ours now, someone's already (maybe ours), or its claimant's limit reached. */
export type ClaimOutcome = { outcome: 'claimed' | 'held'; claim: AgentClaim } | { outcome: 'limit'; count: number };

/**
 * The controller's record of hosts, alerts and work orders. The embedded lowdb store is the
 * default; a database-backed one implements the same interface.
 */
export interface Store {
  listHosts(): Promise<HostRecord[]>;
  getHost(id: string): Promise<HostRecord | undefined>;
  putHost(host: HostRecord): Promise<void>;
  listAlerts(filter?: { state?: AlertState; host?: string } & ListOptions): Promise<AlertRecord[]>;
  getAlert(id: string): Promise<AlertRecord | undefined>;
  putAlert(alert: AlertRecord): Promise<void>;
  listHeals(filter?: { state?: HealState; host?: string; rule?: string; since?: string } & ListOptions): Promise<HealRecord[]>;
  getHeal(id: string): Promise<HealRecord | undefined>;
  putHeal(heal: HealRecord): Promise<void>;
  /** Small named records (global pause, circuit breakers, silences…), typed by key; undefined deletes. */
  getState<K extends StateKey>(key: K): Promise<StateRecords[K] | undefined>;
  putState<K extends StateKey>(key: K, value: StateRecords[K] | undefined): Promise<void>;
  /**
   * Agent identities, as row operations so that controllers sharing a database cannot lose each
   * other's writes or spend one token use twice.
   */
  addEnrollToken(token: EnrollTokenRecord, now: string): Promise<void>;
  /**
   * Spends one use of the enrollment token with this hash and stores the credential (enrolled
   * with that token's id) and its claim of the id, all or nothing; refused when the id has an
   * unrevoked credential.
   */
  enrollAgent(input: {
    tokenHash: string;
    credential: Omit<AgentCredentialRecord, 'rev' | 'enrolledWith'>;
    claim: AgentClaim;
    now: string;
  }): Promise<EnrollOutcome>;
  /** Credentials changed after `sinceRev` (all of them without it), in rev order. */
  listAgentCredentials(sinceRev?: number): Promise<AgentCredentialRecord[]>;
  getAgentCredential(id: string): Promise<AgentCredentialRecord | undefined>;
  /** Revokes the id's unrevoked credential; undefined when there is none. */
  revokeAgentCredential(id: string, by: string, at: string): Promise<AgentCredentialRecord | undefined>;
  getAgentClaim(id: string): Promise<AgentClaim | undefined>;
  /** Records the claim unless the id is claimed already, or its token holds `maxIds` ids already. */
  claimAgentId(claim: AgentClaim, maxIds: number): Promise<ClaimOutcome>;
  /**
   * Frees an id for a new claimant (an operator's decision): drops its claim and any revoked
   * credential of it; an unrevoked credential stays. False when there was nothing to drop.
   */
  forgetAgentClaim(id: string): Promise<boolean>;
  /** Writes everything pending to durable storage. */
  flush(): Promise<void>;
  close(): Promise<void>;
}
