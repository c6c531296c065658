import type { Result } from '../../protocol/index.js';

export interface HostRecord {
  id: string;
  hostname: string;
  labels: Record<string, string>;
  os: { platform: string; release: string; distro?: string };
  agentVersion: string;
  services: string[];
  actions: string[];
  connected: boolean;
  up: boolean;
  firstSeen: string;
  lastSeen: string;
  intervalMs: number;
  /** The agent process's instance id from its last hello. */
  instance?: string;
}

export type AlertState = 'pending' | 'firing' | 'resolved';

export interface AlertRecord {
  id: string;
  /** Namespaced rule id, "<namespace>/<name>". */
  rule: string;
  host: string;
  severity: string;
  state: AlertState;
  startsAt: string;
  firedAt: string | null;
  endsAt: string | null;
  summary: string;
  description: string;
  labels: Record<string, string>;
  fingerprint: string;
  heals: string[];
  updatedAt: string;
  /** Who acknowledged it: it stays firing, but stops repeating. */
  ack: { by: string; at: string; comment: string } | null;
  /** The condition keeps coming and going: the alert is held firing until it settles. */
  flapping: boolean;
  /** When the condition last cleared while keepFiringFor (or flap damping) holds it firing. */
  clearedAt: string | null;
}

export type HealState = 'awaiting-approval' | 'dispatched' | 'succeeded' | 'failed' | 'timed-out' | 'rejected' | 'skipped' | 'shadow';

export const FINAL_HEAL_STATES: ReadonlySet<HealState> = new Set(['succeeded', 'failed', 'timed-out', 'rejected', 'skipped', 'shadow']);

export interface HealEvent {
  at: string;
  /** A state the order entered, or a step in its story (acknowledged, verifying, cleared, notified, approved…). */
  state: string;
  note: string;
}

export type StepState = 'pending' | 'dispatched' | 'succeeded' | 'failed' | 'timed-out' | 'refused';

/** One rung of the ladder: one instruction to the agent and what came of it. */
export interface HealStep {
  action: string;
  params: Record<string, unknown>;
  /** The instruction id on the wire: "<order id>.<step index>". */
  runId: string;
  state: StepState;
  timeoutMs: number;
  dispatchedAt: string | null;
  ackedAt: string | null;
  finishedAt: string | null;
  result: Result | null;
}

export interface Approval {
  expiresAt: string;
  decision: 'approved' | 'rejected' | 'expired' | null;
  by: string | null;
  at: string | null;
  comment: string | null;
}

/**
 * A work order: one record per incident and heal — who asked, every step sent, every result,
 * every decision and notification, and whether the problem cleared.
 */
export interface HealRecord {
  id: string;
  alertId: string | null;
  rule: string;
  host: string;
  trigger: 'alert' | 'schedule';
  mode: 'enforce' | 'shadow';
  /** The current (or last) step's action and params. */
  action: string;
  params: Record<string, unknown>;
  state: HealState;
  reason: string;
  /** The brake that stopped it (skipped), or would have (shadow): paused, flapping, max-per-hour… */
  brake?: string;
  createdAt: string;
  updatedAt: string;
  /** When the fault was first seen (the sample time), for fault-to-heal figures. */
  faultAt: string | null;
  /** When the first step was sent. */
  dispatchedAt: string | null;
  ackedAt: string | null;
  finishedAt: string | null;
  timeoutMs: number;
  /** The latest step's result. */
  result: Result | null;
  steps: HealStep[];
  step: number;
  verifyWithinMs: number;
  /** Set while waiting for the rule's condition to clear after a step. */
  verifyingUntil: string | null;
  clearedAt: string | null;
  approval: Approval | null;
  notifications: { at: string; receiver: string; kind: string }[];
  history: HealEvent[];
}

export interface ListOptions {
  limit?: number;
}

/** A one-time (or limited-use), expiring token that gets an agent its own credential. Only its hash is kept. */
export interface EnrollTokenRecord {
  id: string;
  hash: string;
  usesLeft: number;
  expiresAt: string;
  createdBy: string;
  createdAt: string;
  labels: Record<string, string>;
}

/** An enrolled agent's own credential (its hash). `rev` grows with every change, so others can poll for changes. */
export interface AgentCredentialRecord {
  id: string;
  hash: string;
  enrolledAt: string;
  enrolledWith: string;
  revokedAt: string | null;
  revokedBy: string | null;
  rev: number;
}

/**
 * Who first said hello as an agent id: a shared token (by its entry's name) or an enrollment.
 * Another claimant of the id is refused until an operator forgets the claim.
 */
export interface AgentClaim {
  id: string;
  kind: 'shared' | 'enrolled';
  /** The shared token entry's name (or fingerprint); null for an enrolled agent. */
  token: string | null;
  /** The address the claiming hello (or enrollment) came from. */
  from: string;
  at: string;
}

/** What spending an enrollment token came to; the credential is stored only with `ok`. */
export type EnrollOutcome =
  | { ok: true; token: EnrollTokenRecord }
  | { ok: false; reason: 'unknown-token' | 'used' | 'enrolled' }
  | { ok: false; reason: 'expired'; expiresAt: string };

/** What a claim of an agent id came to: ours now, someone's already (maybe ours), or its claimant's limit reached. */
export type ClaimOutcome =
  | { outcome: 'claimed' | 'held'; claim: AgentClaim }
  | { outcome: 'limit'; count: number };

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
  /** Small named records (global pause, circuit breakers); undefined deletes. */
  getState<T>(key: string): Promise<T | undefined>;
  putState(key: string, value: unknown): Promise<void>;
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
  enrollAgent(input: { tokenHash: string; credential: Omit<AgentCredentialRecord, 'rev' | 'enrolledWith'>; claim: AgentClaim; now: string }): Promise<EnrollOutcome>;
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
