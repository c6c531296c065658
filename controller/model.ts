import type { Result } from '../protocol/index.js';

/*
 * The controller's domain: what it knows of hosts, alerts, work orders and agent identities,
 * and the small named records it keeps. Store, alerts, heal and the API all speak these types;
 * none of them owns them.
 */

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

// --- small named records (Store.getState / putState) ---

/** What people are told about a work order, besides its alert (alertname `laas-heal-<kind>`). */
export type HealNoticeKind = 'escalation' | 'breaker-open' | 'approval-needed' | 'flapping';

/** The fleet-wide pause of automatic heals. */
export interface PauseState {
  by: string;
  at: string;
  reason: string;
}

/** One circuit breaker per rule and host, as kept in the store. */
export interface BreakerState {
  rule: string;
  host: string;
  /** Recent failed work orders (epoch ms), pruned to the window. */
  failures: number[];
  openedAt: number | null;
  /** The last time the fault was seen while open; the healthy period counts from here. */
  lastUnhealthyAt: number | null;
}

/** A line of the notification log: what was sent, failed, or held back and why. */
export interface NotificationLogEntry {
  at: string;
  receiver: string;
  groupKey: string;
  status: 'firing' | 'resolved';
  alerts: { id: string; alertname: string; host: string }[];
  outcome: 'sent' | 'failed' | 'muted' | 'unknown-receiver';
  attempt?: number;
  error?: string;
  reason?: string;
}

/**
 * Every small named record and the type it holds: `getState('pause')` is a PauseState, with no
 * cast anywhere. Silences are checked when loaded (a stored one may be from an older laas or
 * edited by hand), so they are read as unknown; the signing key is sealed text.
 */
export interface StateRecords {
  pause: PauseState;
  breakers: BreakerState[];
  silences: unknown[];
  notifications: NotificationLogEntry[];
  'signing-key': string;
}

export type StateKey = keyof StateRecords;
