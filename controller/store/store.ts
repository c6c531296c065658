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
}

export type HealState = 'awaiting-approval' | 'dispatched' | 'succeeded' | 'failed' | 'timed-out' | 'rejected' | 'skipped' | 'shadow';

export const FINAL_HEAL_STATES: ReadonlySet<HealState> = new Set(['succeeded', 'failed', 'timed-out', 'rejected', 'skipped', 'shadow']);

export interface HealEvent {
  at: string;
  state: HealState | 'acknowledged';
  note: string;
}

/** A work order: who asked for what, what ran, what came back. */
export interface HealRecord {
  id: string;
  alertId: string | null;
  rule: string;
  host: string;
  action: string;
  params: Record<string, unknown>;
  state: HealState;
  reason: string;
  createdAt: string;
  updatedAt: string;
  /** When the fault was first seen (the sample time), for fault-to-heal figures. */
  faultAt: string | null;
  dispatchedAt: string | null;
  ackedAt: string | null;
  finishedAt: string | null;
  timeoutMs: number;
  result: Result | null;
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
  /** Writes everything pending to durable storage. */
  flush(): Promise<void>;
  close(): Promise<void>;
}
