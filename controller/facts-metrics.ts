import type { Counter, Gauge } from 'prom-client';
import type { Sample } from '../protocol/index.js';

/** The per-host fact gauges controller/metrics.ts defines, by fact. */
export interface FactGauges {
  cpuUsage: Gauge<'host'>;
  load1: Gauge<'host'>;
  load5: Gauge<'host'>;
  load15: Gauge<'host'>;
  memoryUsed: Gauge<'host'>;
  memoryAvailable: Gauge<'host'>;
  memoryTotal: Gauge<'host'>;
  diskUsed: Gauge<'host' | 'mount'>;
  diskFree: Gauge<'host' | 'mount'>;
  diskTotal: Gauge<'host' | 'mount'>;
  netRx: Gauge<'host' | 'interface'>;
  netTx: Gauge<'host' | 'interface'>;
  serviceUp: Gauge<'host' | 'service'>;
  serviceSince: Gauge<'host' | 'service'>;
}

/**
 * How many series one host may hold, so one odd host (a Docker host with 200 veth interfaces,
 * a node with dozens of mounts) cannot blow up /metrics for everyone.
 */
export interface FactsLimits {
  mounts: number;
  interfaces: number;
  services: number;
  /** A host silent this long has its fact series dropped (its laas_host_up stays). */
  staleAfterMs: number;
}

export const DEFAULT_FACTS_LIMITS: FactsLimits = { mounts: 16, interfaces: 16, services: 64, staleAfterMs: 5 * 60_000 };

type Kind = 'mount' | 'interface' | 'service';

interface HostSeries {
  lastAt: number;
  mount: Set<string>;
  interface: Set<string>;
  service: Set<string>;
}

/**
 * Turns each sample into per-host gauges. Cardinality stays bounded three ways:
 * - only hosts the registry knows get here (pipeline.sample() drops unknown hosts first);
 * - per host at most `limits.mounts` mounts, `interfaces` interfaces and `services` services:
 *   the ones already exported keep their series (stable graphs), new ones fill free slots
 *   shortest name first ("/" before "/var/lib/…", "eth0" before "veth9f3c…"), the rest are
 *   counted in laas_host_facts_capped_total{kind};
 * - a mount, interface or service missing from a host's sample loses its series at once, and a
 *   host silent for `staleAfterMs` loses all its fact series at the next scrape.
 */
export class FactsMetrics {
  private readonly hosts = new Map<string, HostSeries>();
  private readonly limits: FactsLimits;
  private readonly clock: () => number;

  constructor(private readonly deps: {
    gauges: FactGauges;
    hostUp: Gauge<'host'>;
    capped: Counter<'kind'>;
    clock?: () => number;
    limits?: Partial<FactsLimits>;
  }) {
    this.limits = { ...DEFAULT_FACTS_LIMITS, ...deps.limits };
    this.clock = deps.clock ?? Date.now;
  }

  /** Hosts with fact series right now. */
  get hostCount(): number {
    return this.hosts.size;
  }

  record(host: string, sample: Sample): void {
    const g = this.deps.gauges;
    let h = this.hosts.get(host);
    if (!h) {
      h = { lastAt: 0, mount: new Set(), interface: new Set(), service: new Set() };
      this.hosts.set(host, h);
    }
    h.lastAt = this.clock();
    // A host that reports is up; this family of series is complete on its own.
    this.deps.hostUp.set({ host }, 1);
    const hl = { host };
    if (sample.cpu) {
      g.cpuUsage.set(hl, sample.cpu.usage);
      g.load1.set(hl, sample.cpu.load1);
      g.load5.set(hl, sample.cpu.load5);
      g.load15.set(hl, sample.cpu.load15);
    }
    if (sample.memory) {
      g.memoryUsed.set(hl, sample.memory.usedPercent);
      g.memoryAvailable.set(hl, sample.memory.availableBytes);
      g.memoryTotal.set(hl, sample.memory.totalBytes);
    }
    if (sample.disk) {
      const disk = sample.disk;
      for (const mount of this.keep(host, h, 'mount', Object.keys(disk), this.limits.mounts)) {
        const d = disk[mount];
        g.diskUsed.set({ host, mount }, d.usedPercent);
        g.diskFree.set({ host, mount }, d.freeBytes);
        g.diskTotal.set({ host, mount }, d.totalBytes);
      }
    }
    if (sample.net) {
      const net = sample.net;
      for (const iface of this.keep(host, h, 'interface', Object.keys(net), this.limits.interfaces)) {
        g.netRx.set({ host, interface: iface }, net[iface].rxBytesPerSec);
        g.netTx.set({ host, interface: iface }, net[iface].txBytesPerSec);
      }
    }
    if (sample.service) {
      const services = sample.service;
      for (const service of this.keep(host, h, 'service', Object.keys(services), this.limits.services)) {
        g.serviceUp.set({ host, service }, services[service].up ? 1 : 0);
        g.serviceSince.set({ host, service }, services[service].since / 1000);
      }
    }
  }

  /** Drops every fact series of a host (for a host the registry forgets, or one gone quiet). */
  drop(host: string): void {
    const h = this.hosts.get(host);
    if (!h) return;
    this.hosts.delete(host);
    const g = this.deps.gauges;
    for (const gauge of [g.cpuUsage, g.load1, g.load5, g.load15, g.memoryUsed, g.memoryAvailable, g.memoryTotal]) gauge.remove({ host });
    for (const kind of ['mount', 'interface', 'service'] as const) for (const key of h[kind]) this.removeSeries(host, kind, key);
  }

  /**
   * Drops the fact series of hosts silent past `staleAfterMs`. Called at scrape time (the
   * first fact gauge's collect hook), so it costs the sample path nothing and runs even when no
   * host reports at all.
   */
  prune(now = this.clock()): void {
    for (const [host, h] of this.hosts) if (now - h.lastAt >= this.limits.staleAfterMs) this.drop(host);
  }

  /**
   * The keys of this sample to export for one kind: the ones already exported that are still
   * reported, then new ones (shortest first) while the cap allows. Keys no longer reported lose
   * their series.
   */
  private keep(host: string, h: HostSeries, kind: Kind, keys: string[], cap: number): string[] {
    const reported = new Set(keys);
    const exported = h[kind];
    for (const key of [...exported]) {
      if (reported.has(key)) continue;
      exported.delete(key);
      this.removeSeries(host, kind, key);
    }
    const fresh = keys.filter((k) => !exported.has(k));
    if (exported.size + fresh.length > cap) {
      fresh.sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
      const room = Math.max(0, cap - exported.size);
      this.deps.capped.inc({ kind }, fresh.length - room);
      fresh.length = room;
    }
    for (const k of fresh) exported.add(k);
    return [...exported];
  }

  private removeSeries(host: string, kind: Kind, key: string): void {
    const g = this.deps.gauges;
    if (kind === 'mount') for (const gauge of [g.diskUsed, g.diskFree, g.diskTotal]) gauge.remove({ host, mount: key });
    if (kind === 'interface') for (const gauge of [g.netRx, g.netTx]) gauge.remove({ host, interface: key });
    if (kind === 'service') for (const gauge of [g.serviceUp, g.serviceSince]) gauge.remove({ host, service: key });
  }
}
