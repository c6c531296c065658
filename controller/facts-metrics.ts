import type { Counter, Gauge } from 'prom-client';
import type { HostGauge } from './host-gauge.js';
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
  /**
   * Hosts with per-host fact series. Past this the fleet is summarised instead (laas_fleet_*):
   * 20,000 hosts × ~24 series would be ~500k series, seconds of work per scrape.
   */
  hosts: number;
  mounts: number;
  interfaces: number;
  services: number;
  /** A host silent this long has its fact series dropped (its laas_host_up stays). */
  staleAfterMs: number;
}

export const DEFAULT_FACTS_LIMITS: FactsLimits = { hosts: 1000, mounts: 16, interfaces: 16, services: 64, staleAfterMs: 5 * 60_000 };

type Kind = 'mount' | 'interface' | 'service';

/** The fleet-wide gauges, computed at scrape time from the latest fact of every reporting host. */
export interface FleetGauges {
  hostsReporting: Gauge;
  hostsWithoutSeries: Gauge;
  cpuUsage: Gauge<'stat'>;
  memoryUsed: Gauge<'stat'>;
  diskUsed: Gauge<'stat'>;
  servicesDown: Gauge;
}

/** One host's latest headline facts, for the fleet summary (NaN when not reported). */
interface Latest {
  at: number;
  cpu: number;
  memory: number;
  /** The fullest mount. */
  disk: number;
  servicesDown: number;
}

interface HostSeries {
  lastAt: number;
  mount: Set<string>;
  interface: Set<string>;
  service: Set<string>;
}

/**
 * Turns each sample into per-host gauges. Cardinality stays bounded four ways:
 * - only hosts the registry knows get here (Core.sample() drops unknown hosts first);
 * - at most `limits.hosts` hosts have fact series (first come; a host gone stale frees its
 *   slot), the others are counted in laas_host_facts_capped_total{kind="host"}; every reporting
 *   host is in the fleet summary (laas_fleet_*: mean/min/max and counts, computed per scrape);
 * - per host at most `limits.mounts` mounts, `interfaces` interfaces and `services` services:
 *   the ones already exported keep their series (stable graphs), new ones fill free slots
 *   shortest name first ("/" before "/var/lib/…", "eth0" before "veth9f3c…"), the rest are
 *   counted in laas_host_facts_capped_total{kind};
 * - a mount, interface or service missing from a host's sample loses its series at once, and a
 *   host silent for `staleAfterMs` loses all its fact series at the next scrape.
 */
export class FactsMetrics {
  private readonly hosts = new Map<string, HostSeries>();
  /** Every reporting host, with or without per-host series: the fleet summary's input. */
  private readonly latest = new Map<string, Latest>();
  private readonly limits: FactsLimits;
  private readonly clock: () => number;

  constructor(
    private readonly deps: {
      gauges: FactGauges;
      hostUp: HostGauge;
      capped: Counter<'kind'>;
      fleet?: FleetGauges;
      clock?: () => number;
      limits?: Partial<FactsLimits>;
    },
  ) {
    this.limits = { ...DEFAULT_FACTS_LIMITS, ...deps.limits };
    this.clock = deps.clock ?? Date.now;
  }

  /** Hosts with fact series right now. */
  get hostCount(): number {
    return this.hosts.size;
  }

  record(host: string, sample: Sample): void {
    const g = this.deps.gauges;
    const now = this.clock();
    this.remember(host, sample, now);
    // A host that reports is up; this family of series is complete on its own.
    this.deps.hostUp.set({ host }, 1);
    let h = this.hosts.get(host);
    if (!h) {
      // The fleet is past the per-host cap: this host is in the laas_fleet_* summary only.
      if (this.hosts.size >= this.limits.hosts) {
        this.deps.capped.inc({ kind: 'host' });
        return;
      }
      h = { lastAt: 0, mount: new Set(), interface: new Set(), service: new Set() };
      this.hosts.set(host, h);
    }
    h.lastAt = now;
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

  /** Keeps the headline facts of a host for the fleet summary; a partial sample updates what it has. */
  private remember(host: string, sample: Sample, now: number): void {
    let l = this.latest.get(host);
    if (!l) {
      l = { at: now, cpu: NaN, memory: NaN, disk: NaN, servicesDown: 0 };
      this.latest.set(host, l);
    }
    l.at = now;
    if (sample.cpu) l.cpu = sample.cpu.usage;
    if (sample.memory) l.memory = sample.memory.usedPercent;
    if (sample.disk) {
      let max = NaN;
      for (const d of Object.values(sample.disk)) if (!(d.usedPercent <= max)) max = d.usedPercent;
      l.disk = max;
    }
    if (sample.service) {
      let down = 0;
      for (const s of Object.values(sample.service)) if (!s.up) down++;
      l.servicesDown = down;
    }
  }

  /** Sets the laas_fleet_* gauges from every host reporting within staleAfterMs (scrape time). */
  private summarise(now: number): void {
    const f = this.deps.fleet;
    if (!f) return;
    const acc = { cpu: new Stat(), memory: new Stat(), disk: new Stat() };
    let reporting = 0;
    let servicesDown = 0;
    for (const [host, l] of this.latest) {
      if (now - l.at >= this.limits.staleAfterMs) {
        this.latest.delete(host);
        continue;
      }
      reporting++;
      acc.cpu.add(l.cpu);
      acc.memory.add(l.memory);
      acc.disk.add(l.disk);
      servicesDown += l.servicesDown;
    }
    f.hostsReporting.set(reporting);
    f.hostsWithoutSeries.set(Math.max(0, reporting - this.hosts.size));
    f.servicesDown.set(servicesDown);
    for (const [gauge, stat] of [
      [f.cpuUsage, acc.cpu],
      [f.memoryUsed, acc.memory],
      [f.diskUsed, acc.disk],
    ] as const) {
      if (stat.n === 0) {
        gauge.reset();
        continue;
      }
      gauge.set({ stat: 'mean' }, stat.sum / stat.n);
      gauge.set({ stat: 'max' }, stat.max);
      gauge.set({ stat: 'min' }, stat.min);
    }
  }

  /** Drops every fact series of a host (for a host the registry forgets, or one gone quiet). */
  drop(host: string): void {
    this.latest.delete(host);
    this.forget(host);
  }

  private forget(host: string): void {
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
    for (const [host, h] of this.hosts) if (now - h.lastAt >= this.limits.staleAfterMs) this.forget(host);
    this.summarise(now);
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

/** Count, sum, min and max of the numbers given (NaN is skipped: a fact the host did not report). */
class Stat {
  n = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  add(x: number): void {
    if (Number.isNaN(x)) return;
    this.n++;
    this.sum += x;
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
  }
}
