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
  /** Writes everything pending to durable storage. */
  flush(): Promise<void>;
  close(): Promise<void>;
}
