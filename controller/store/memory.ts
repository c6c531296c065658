import { MemoryIdentity } from './identity-memory.js';
import type { AgentClaim, AgentCredentialRecord, AlertRecord, AlertState, HealRecord, HealState, HostRecord, Store } from './store.js';

export interface StoreData {
  version: 1;
  hosts: Record<string, HostRecord>;
  alerts: Record<string, AlertRecord>;
  heals: Record<string, HealRecord>;
  /** Small named records: the global pause, circuit breakers. */
  state: Record<string, unknown>;
}

export const emptyData = (): StoreData => ({ version: 1, hosts: {}, alerts: {}, heals: {}, state: {} });

/**
 * The store's records in memory. On its own it serves `laas rules test` and unit tests; the
 * lowdb store adds the file underneath. Reads and writes copy, so no caller shares a record.
 */
export class MemoryStore implements Store {
  /** Agent identities in named state records; writes go through putState, so the lowdb store journals them. */
  private readonly identity = new MemoryIdentity({
    read: (key) => this.data.state[key],
    write: (key, value) => {
      void this.putState(key, value);
    },
    keys: () => Object.keys(this.data.state),
  });

  constructor(
    protected data: StoreData = emptyData(),
    private readonly maxHistory = 10_000,
  ) {}

  async listHosts() {
    return Object.values(this.data.hosts).map(clone);
  }
  async getHost(id: string) {
    return cloneOpt(this.data.hosts[id]);
  }
  async putHost(host: HostRecord) {
    this.data.hosts[host.id] = clone(host);
    this.changed();
  }

  async listAlerts(filter: { state?: AlertState; host?: string; limit?: number } = {}) {
    const all = Object.values(this.data.alerts)
      .filter((a) => (!filter.state || a.state === filter.state) && (!filter.host || a.host === filter.host))
      .sort((a, b) => b.startsAt.localeCompare(a.startsAt) || b.id.localeCompare(a.id));
    return all.slice(0, filter.limit ?? all.length).map(clone);
  }
  async getAlert(id: string) {
    return cloneOpt(this.data.alerts[id]);
  }
  async putAlert(alert: AlertRecord) {
    this.data.alerts[alert.id] = clone(alert);
    this.changed();
  }

  async listHeals(filter: { state?: HealState; host?: string; rule?: string; since?: string; limit?: number } = {}) {
    const all = Object.values(this.data.heals)
      .filter(
        (h) =>
          (!filter.state || h.state === filter.state) &&
          (!filter.host || h.host === filter.host) &&
          (!filter.rule || h.rule === filter.rule) &&
          (!filter.since || h.createdAt >= filter.since),
      )
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
    return all.slice(0, filter.limit ?? all.length).map(clone);
  }
  async getHeal(id: string) {
    return cloneOpt(this.data.heals[id]);
  }
  async putHeal(heal: HealRecord) {
    this.data.heals[heal.id] = clone(heal);
    this.changed();
  }

  async getState<T>(key: string): Promise<T | undefined> {
    return cloneOpt(this.data.state[key] as T | undefined);
  }
  async putState(key: string, value: unknown) {
    if (value === undefined) delete this.data.state[key];
    else this.data.state[key] = clone(value);
    this.changed();
  }

  async addEnrollToken(...a: Parameters<Store['addEnrollToken']>) {
    this.identity.addEnrollToken(...a);
  }
  async enrollAgent(input: Parameters<Store['enrollAgent']>[0]) {
    return clone(this.identity.enrollAgent(input));
  }
  async listAgentCredentials(sinceRev?: number): Promise<AgentCredentialRecord[]> {
    return clone(this.identity.listAgentCredentials(sinceRev));
  }
  async getAgentCredential(id: string) {
    return cloneOpt(this.identity.getAgentCredential(id));
  }
  async revokeAgentCredential(id: string, by: string, at: string) {
    return cloneOpt(this.identity.revokeAgentCredential(id, by, at));
  }
  async getAgentClaim(id: string) {
    return cloneOpt(this.identity.getAgentClaim(id));
  }
  async claimAgentId(claim: AgentClaim, maxIds: number) {
    return clone(this.identity.claimAgentId(claim, maxIds));
  }
  async forgetAgentClaim(id: string) {
    return this.identity.forgetAgentClaim(id);
  }

  /** Every named state record, for copying a store elsewhere (laas store migrate). */
  stateEntries(): [string, unknown][] {
    return Object.entries(this.data.state).map(([k, v]) => [k, clone(v)]);
  }

  /** Called after every change; the lowdb store schedules a write. */
  protected changed(): void {}

  async flush(): Promise<void> {}
  async close(): Promise<void> {}

  /** Caps history: keeps every open alert and work order, drops the oldest finished ones. */
  protected prune(): void {
    const alerts = Object.values(this.data.alerts).filter((a) => a.state === 'resolved');
    if (alerts.length > this.maxHistory) {
      alerts.sort((a, b) => (a.endsAt ?? '').localeCompare(b.endsAt ?? ''));
      for (const a of alerts.slice(0, alerts.length - this.maxHistory)) delete this.data.alerts[a.id];
    }
    const heals = Object.values(this.data.heals).filter((h) => h.finishedAt);
    if (heals.length > this.maxHistory) {
      heals.sort((a, b) => (a.finishedAt ?? '').localeCompare(b.finishedAt ?? ''));
      for (const h of heals.slice(0, heals.length - this.maxHistory)) delete this.data.heals[h.id];
    }
  }
}

const clone = <T>(v: T): T => structuredClone(v);
const cloneOpt = <T>(v: T | undefined): T | undefined => (v === undefined ? undefined : clone(v));
