import type { Hello } from '../../protocol/index.js';
import type { Metrics } from '../metrics.js';
import type { HostRecord } from '../model.js';
import type { Store } from '../store/store.js';

/**
 * Last-seen is kept in memory on every sample and written to the store at most this often per
 * host (and at every connect, disconnect, down and back-up). Down detection never reads it from
 * disk (a restart gives every host its full deadline), so this only ages the value shown after a
 * crash; at 20,000 hosts every 30 s it was ~700 host writes a second, keeping the store busy.
 */
const PERSIST_LAST_SEEN_MS = 10 * 60_000;

/**
 * Known hosts: who they are (labels, os, services), whether connected, when last heard from.
 * A host is down when silent for `downAfterMs`; after a controller restart every known host
 * gets that long again from the start, so a restart never reads as "all hosts down".
 */
export class HostRegistry {
  private readonly hosts = new Map<string, HostRecord>();
  private readonly lastSeen = new Map<string, number>();
  private readonly persistedAt = new Map<string, number>();

  constructor(private readonly deps: { store: Store; metrics: Metrics; clock: () => number; downAfterMs: number; startedAt: number }) {}

  async restore(owns: (host: string) => boolean = () => true): Promise<void> {
    for (const h of await this.deps.store.listHosts()) {
      if (!owns(h.id)) continue;
      h.connected = false;
      this.hosts.set(h.id, h);
      this.lastSeen.set(h.id, Math.max(Date.parse(h.lastSeen), this.deps.startedAt));
      this.deps.metrics.hostUp.set({ host: h.id }, h.up ? 1 : 0);
      this.deps.metrics.hostLastSeen.set({ host: h.id }, Date.parse(h.lastSeen) / 1000);
    }
  }

  get(id: string): HostRecord | undefined {
    return this.hosts.get(id);
  }

  /** How many hosts match, without copying records (the heal brakes ask on every request). */
  count(match: (h: HostRecord) => boolean = () => true): number {
    let n = 0;
    for (const h of this.hosts.values()) if (match(h)) n++;
    return n;
  }

  list(): HostRecord[] {
    return [...this.hosts.values()].map((h) => ({ ...h, lastSeen: new Date(this.lastSeen.get(h.id) ?? Date.parse(h.lastSeen)).toISOString() }));
  }

  /** Records the hello; `restarted` is true when the agent process is not the one seen before. */
  async connected(hello: Hello): Promise<HostRecord & { restarted: boolean }> {
    const now = this.deps.clock();
    const iso = new Date(now).toISOString();
    // Another controller may have known it (several controllers on one database).
    const prev = this.hosts.get(hello.agentId) ?? (await this.deps.store.getHost(hello.agentId));
    const host: HostRecord = {
      id: hello.agentId,
      hostname: hello.hostname,
      labels: { ...hello.labels },
      os: { ...hello.os },
      agentVersion: hello.agentVersion,
      services: [...hello.services],
      actions: [...hello.actions],
      connected: true,
      up: prev?.up ?? true,
      firstSeen: prev?.firstSeen ?? iso,
      lastSeen: iso,
      intervalMs: hello.intervalMs,
      ...(hello.instance ? { instance: hello.instance } : {}),
    };
    const restarted = Boolean(prev?.instance && hello.instance && prev.instance !== hello.instance);
    this.hosts.set(host.id, host);
    this.lastSeen.set(host.id, now);
    this.persistedAt.set(host.id, now);
    this.deps.metrics.hostUp.set({ host: host.id }, host.up ? 1 : 0);
    this.deps.metrics.hostLastSeen.set({ host: host.id }, now / 1000);
    await this.deps.store.putHost(host);
    return { ...host, restarted };
  }

  /** Several controllers: a host of a dead controller, adopted unconnected (it goes down unless it returns). */
  adopt(h: HostRecord): void {
    if (this.hosts.has(h.id)) return;
    h.connected = false;
    this.hosts.set(h.id, h);
    this.lastSeen.set(h.id, Math.max(Date.parse(h.lastSeen), this.deps.clock() - this.deps.downAfterMs / 2));
  }

  /** Several controllers: the host is another controller's now; forget it here. */
  forget(id: string): void {
    this.hosts.delete(id);
    this.lastSeen.delete(id);
    this.persistedAt.delete(id);
  }

  /** Writes the host's record again (after an adoption, so the new owner's view is the last). */
  async persist(id: string): Promise<void> {
    const h = this.hosts.get(id);
    if (h) await this.deps.store.putHost({ ...h, lastSeen: new Date(this.lastSeen.get(id) ?? Date.parse(h.lastSeen)).toISOString() });
  }

  async disconnected(id: string): Promise<void> {
    const h = this.hosts.get(id);
    if (!h) return;
    h.connected = false;
    h.lastSeen = new Date(this.lastSeen.get(id) ?? this.deps.clock()).toISOString();
    await this.deps.store.putHost(h);
  }

  /** Records a sign of life; returns true when the host was down and is now back. */
  async seen(id: string, at = this.deps.clock()): Promise<boolean> {
    const h = this.hosts.get(id);
    if (!h) return false;
    this.lastSeen.set(id, at);
    this.deps.metrics.hostLastSeen.set({ host: id }, at / 1000);
    const back = !h.up;
    if (back || at - (this.persistedAt.get(id) ?? 0) >= PERSIST_LAST_SEEN_MS) {
      h.up = true;
      h.lastSeen = new Date(at).toISOString();
      this.persistedAt.set(id, at);
      this.deps.metrics.hostUp.set({ host: id }, 1);
      await this.deps.store.putHost(h);
    }
    return back;
  }

  /**
   * The controller itself was not running (stopped, paused, blocked): it could not have heard
   * anyone, and what agents sent meanwhile is still queued in the kernel or in their reconnects.
   * Every host gets its full deadline again from now, as after a restart.
   */
  excuse(): void {
    const now = this.deps.clock();
    for (const [id, at] of this.lastSeen) this.lastSeen.set(id, Math.max(at, now));
  }

  /** Hosts silent past their deadline that are not yet marked down; marks them down. */
  async sweep(now = this.deps.clock()): Promise<HostRecord[]> {
    const down: HostRecord[] = [];
    for (const h of this.hosts.values()) {
      if (!h.up) continue;
      // An agent that samples rarely gets three of its intervals before it counts as down.
      if (now - (this.lastSeen.get(h.id) ?? 0) < Math.max(this.deps.downAfterMs, 3 * h.intervalMs)) continue;
      h.up = false;
      h.lastSeen = new Date(this.lastSeen.get(h.id) ?? now).toISOString();
      this.deps.metrics.hostUp.set({ host: h.id }, 0);
      await this.deps.store.putHost(h);
      down.push(h);
    }
    return down;
  }
}
