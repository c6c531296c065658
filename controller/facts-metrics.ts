import type { Counter, Gauge } from 'prom-client';
import { FACT_SECTIONS, type KeyedKind, type Section } from './fact-series.js';
import type { HostGauge } from './host-gauge.js';
import type { Sample } from '../protocol/index.js';

/** The per-host fact gauges controller/metrics.ts defines, by family name (fact-series.ts). */
export type FactGauges = ReadonlyMap<string, Gauge<string>>;

/**
 * How many series one host may hold, so one odd host (a Docker host with 200 veth interfaces,
 * a node with dozens of mounts, 500 checks with 100 perf values each) cannot blow up /metrics
 * for everyone.
 */
export interface FactsLimits {
  /**
   * Hosts with per-host fact series. Past this the fleet is summarised instead (laas_fleet_*):
   * 20,000 hosts × ~24 series would be ~500k series, seconds of work per scrape.
   */
  hosts: number;
  mounts: number;
  interfaces: number;
  /** Block devices (io). */
  devices: number;
  services: number;
  checks: number;
  /** Perfdata values over all the host's checks. */
  perf: number;
  certs: number;
  pings: number;
  dns: number;
  logs: number;
  /** Exporter sources (metric). */
  sources: number;
  /** A host silent this long has its fact series dropped (its laas_host_up stays). */
  staleAfterMs: number;
}

export const DEFAULT_FACTS_LIMITS: FactsLimits = {
  hosts: 1000,
  mounts: 16,
  interfaces: 16,
  devices: 16,
  services: 64,
  checks: 64,
  perf: 128,
  certs: 32,
  pings: 32,
  dns: 32,
  logs: 32,
  sources: 16,
  staleAfterMs: 5 * 60_000,
};

/** The limit that caps each kind. */
const CAP: Record<KeyedKind, keyof FactsLimits> = {
  mount: 'mounts',
  interface: 'interfaces',
  device: 'devices',
  service: 'services',
  check: 'checks',
  perf: 'perf',
  cert: 'certs',
  ping: 'pings',
  dns: 'dns',
  log: 'logs',
  source: 'sources',
};

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
  /** Per section (FACT_SECTIONS' index), the entries exported: key → labels (host included). */
  exported: Map<string, Record<string, string>>[];
}

/**
 * Turns each sample into per-host gauges. Cardinality stays bounded four ways:
 * - only hosts the registry knows get here (Core.sample() drops unknown hosts first);
 * - at most `limits.hosts` hosts have fact series (first come; a host gone stale frees its
 *   slot), the others are counted in laas_host_facts_capped_total{kind="host"}; every reporting
 *   host is in the fleet summary (laas_fleet_*: mean/min/max and counts, computed per scrape);
 * - per host at most `limits.mounts` mounts, `interfaces` interfaces, `services` services,
 *   `checks` checks, `perf` perfdata values and so on (FactsLimits): the ones already exported
 *   keep their series (stable graphs), new ones fill free slots shortest name first ("/" before
 *   "/var/lib/…", "eth0" before "veth9f3c…"), the rest are counted in
 *   laas_host_facts_capped_total{kind};
 * - an entry (mount, check, perf value…) missing from a host's sample loses its series at once,
 *   a field the agent left out has no series, and a host silent for `staleAfterMs` loses all its
 *   fact series at the next scrape.
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
      h = { lastAt: 0, exported: FACT_SECTIONS.map(() => new Map<string, Record<string, string>>()) };
      this.hosts.set(host, h);
    }
    h.lastAt = now;
    for (let i = 0; i < FACT_SECTIONS.length; i++) {
      const section = FACT_SECTIONS[i];
      const entries = section.read(sample);
      if (entries) this.apply(host, section, h.exported[i], entries);
    }
  }

  /** Sets one section's series from its entries (capped), and removes those of entries gone. */
  private apply(host: string, section: Section, exported: Map<string, Record<string, string>>, entries: ReturnType<Section['read']> & object): void {
    const reported = new Set<string>();
    for (const e of entries) reported.add(e.key);
    for (const [key, labels] of exported) {
      if (reported.has(key)) continue;
      exported.delete(key);
      this.removeSeries(section, labels);
    }
    let fresh = entries.filter((e) => !exported.has(e.key));
    const cap = section.kind ? this.limits[CAP[section.kind]] : Infinity;
    if (section.kind && exported.size + fresh.length > cap) {
      fresh.sort((a, b) => a.key.length - b.key.length || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const room = Math.max(0, cap - exported.size);
      this.deps.capped.inc({ kind: section.kind }, fresh.length - room);
      fresh = fresh.slice(0, room);
    }
    for (const e of fresh) exported.set(e.key, { host, ...e.labels });
    const g = this.deps.gauges;
    for (const e of entries) {
      const labels = exported.get(e.key);
      if (!labels) continue;
      for (let f = 0; f < section.families.length; f++) {
        const gauge = g.get(section.families[f].name)!;
        const value = e.values[f];
        if (value === undefined) gauge.remove(labels);
        else gauge.set(labels, value);
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
    FACT_SECTIONS.forEach((section, i) => {
      for (const labels of h.exported[i].values()) this.removeSeries(section, labels);
    });
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

  private removeSeries(section: Section, labels: Record<string, string>): void {
    for (const f of section.families) this.deps.gauges.get(f.name)!.remove(labels);
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
