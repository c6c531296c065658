import type { Sample } from '../protocol/index.js';

/**
 * Every numeric fact a host reports, as Prometheus series: one table that /metrics
 * (facts-metrics.ts, with per-host caps) and remote-write (export/, same names and labels) share,
 * so a dashboard reads the same name from either. Names are `laas_host_<fact>_<name>_<unit>`
 * in base units (seconds, bytes, percent 0–100); a boolean is 1 or 0. Text facts (outputs,
 * certificate subjects, top processes' names, failed unit names) stay out: they are label
 * values without bound. A field the agent left out has no series (not a 0).
 */

/** What a per-host cap counts, one kind per keyed section (laas_host_facts_capped_total{kind}). */
export type KeyedKind = 'mount' | 'interface' | 'device' | 'service' | 'check' | 'perf' | 'cert' | 'ping' | 'dns' | 'log' | 'source';

export interface Family {
  name: string;
  help: string;
  /** Labels after `host`. */
  labels: readonly string[];
}

/** One entry of a section: its key (caps, removal), its labels after `host`, one value per family (undefined: no series). */
export interface Entry {
  key: string;
  labels: Record<string, string>;
  values: (number | undefined)[];
}

export interface Section {
  /** Absent: one entry per host (cpu, memory, system), never capped. */
  kind?: KeyedKind;
  families: readonly Family[];
  /** This section's entries in the sample, or undefined when the sample does not carry it (a partial sample keeps the last). */
  read(s: Sample): Entry[] | undefined;
}

type Field<T> = [name: string, help: string, value: (x: T) => number | undefined];

const bool = (x: boolean | undefined) => (x === undefined ? undefined : x ? 1 : 0);
const seconds = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);

/** A fact with one value set per host. */
function single<T>(get: (s: Sample) => T | undefined, fields: Field<T>[]): Section {
  return {
    families: fields.map(([name, help]) => ({ name, help, labels: [] })),
    read(s) {
      const x = get(s);
      return x === undefined ? undefined : [{ key: '', labels: {}, values: fields.map((f) => f[2](x)) }];
    },
  };
}

/** A fact keyed by mount, interface, device or probe name: the key becomes the `label` label. */
function keyed<T>(kind: KeyedKind, label: string, get: (s: Sample) => Record<string, T> | undefined, fields: Field<T>[]): Section {
  return {
    kind,
    families: fields.map(([name, help]) => ({ name, help, labels: [label] })),
    read(s) {
      const r = get(s);
      if (r === undefined) return undefined;
      return Object.keys(r).map((key) => ({ key, labels: { [label]: key }, values: fields.map((f) => f[2](r[key])) }));
    },
  };
}

type Check = NonNullable<Sample['check']>[string];

/** Each check's perfdata values, labelled by check, label and unit (the unit as the plugin printed it). */
const perf: Section = {
  kind: 'perf',
  families: [
    {
      name: 'laas_host_check_perf',
      help: "A command check's perfdata value, in the unit of its uom label as the plugin printed it (MB, %, s, c…)",
      labels: ['check', 'label', 'uom'],
    },
  ],
  read(s) {
    if (s.check === undefined) return undefined;
    const out: Entry[] = [];
    for (const [check, c] of Object.entries<Check>(s.check))
      for (const [label, p] of Object.entries(c.perf))
        // The unit is part of the key: a plugin that changes it starts a new series (the old one goes).
        out.push({ key: `${check}\u0000${label}\u0000${p.uom}`, labels: { check, label, uom: p.uom }, values: [p.value] });
    return out;
  },
};

/** In order: the first family's gauge runs the scrape-time prune (metrics.ts), so cpu stays first. */
export const FACT_SECTIONS: readonly Section[] = [
  single(
    (s) => s.cpu,
    [
      ['laas_host_cpu_usage_percent', 'CPU busy, percent of all cores', (c) => c.usage],
      ['laas_host_cpu_load1', 'Load average over 1 minute', (c) => c.load1],
      ['laas_host_cpu_load5', 'Load average over 5 minutes', (c) => c.load5],
      ['laas_host_cpu_load15', 'Load average over 15 minutes', (c) => c.load15],
      ['laas_host_cpu_cores', 'CPU cores the agent may use (load per core is laas_host_cpu_load1 / this)', (c) => c.cores],
    ],
  ),
  single(
    (s) => s.memory,
    [
      ['laas_host_memory_used_percent', 'Memory in use, percent of total', (m) => m.usedPercent],
      ['laas_host_memory_available_bytes', 'Memory available to new work', (m) => m.availableBytes],
      ['laas_host_memory_total_bytes', 'Memory installed', (m) => m.totalBytes],
      ['laas_host_memory_swap_used_percent', 'Swap space in use, percent (0 with no swap)', (m) => m.swapUsedPercent],
      ['laas_host_memory_swap_used_bytes', 'Swap space in use', (m) => m.swapUsedBytes],
      ['laas_host_memory_swap_in_pages_per_second', 'Pages swapped in per second over the last sampling interval', (m) => m.swapInPerSec],
    ],
  ),
  single(
    (s) => s.system,
    [
      ['laas_host_system_uptime_seconds', 'Time since the host booted', (x) => x.uptimeSec],
      ['laas_host_system_reboot_required', '1 when an installed update asks for a reboot', (x) => bool(x.rebootRequired)],
      ['laas_host_system_processes', 'Processes running', (x) => x.processes],
      ['laas_host_system_zombies', 'Zombie processes (exited, not reaped by their parent)', (x) => x.zombies],
      ['laas_host_system_fds_used', 'File descriptors open, host-wide', (x) => x.fdUsed],
      ['laas_host_system_fds_max', 'File descriptors the kernel allows, host-wide (fs.file-max)', (x) => x.fdMax],
      ['laas_host_system_fds_used_percent', 'File descriptors open, percent of the host-wide maximum', (x) => x.fdUsedPercent],
      ['laas_host_system_oom_kills', "Processes the kernel's OOM killer killed since boot", (x) => x.oomKills],
      ['laas_host_system_tcp_established', 'TCP connections established', (x) => x.tcpEstablished],
      ['laas_host_system_tcp_retransmits_per_second', 'TCP segments retransmitted per second over the last sampling interval', (x) => x.tcpRetransPerSec],
      ['laas_host_system_failed_units', 'systemd units in the failed state', (x) => x.failedUnits?.length],
      ['laas_host_system_clock_synced', '1 when the kernel clock is synchronised', (x) => bool(x.clockSynced)],
      ['laas_host_system_clock_offset_seconds', "The kernel clock's estimated error", (x) => seconds(x.clockOffsetMs)],
    ],
  ),
  keyed('mount', 'mount', (s) => s.disk, [
    ['laas_host_disk_used_percent', 'Filesystem space used, percent (reserved blocks count as used, like df)', (d) => d.usedPercent],
    ['laas_host_disk_free_bytes', 'Filesystem space available to unprivileged users', (d) => d.freeBytes],
    ['laas_host_disk_total_bytes', 'Filesystem size', (d) => d.totalBytes],
    ['laas_host_disk_inodes_used_percent', 'Inodes used, percent (no series on file systems without a fixed inode table)', (d) => d.inodesUsedPercent],
    ['laas_host_disk_read_only', '1 when the filesystem is mounted read-only', (d) => bool(d.readOnly)],
  ]),
  keyed('interface', 'interface', (s) => s.net, [
    ['laas_host_network_receive_bytes_per_second', 'Bytes received per second over the last sampling interval', (n) => n.rxBytesPerSec],
    ['laas_host_network_transmit_bytes_per_second', 'Bytes sent per second over the last sampling interval', (n) => n.txBytesPerSec],
    ['laas_host_network_up', "1 when the interface's link is up (operstate)", (n) => bool(n.up)],
    ['laas_host_network_receive_errors_per_second', 'Receive errors per second over the last sampling interval', (n) => n.rxErrorsPerSec],
    ['laas_host_network_transmit_errors_per_second', 'Transmit errors per second over the last sampling interval', (n) => n.txErrorsPerSec],
    ['laas_host_network_receive_drops_per_second', 'Received packets dropped per second over the last sampling interval', (n) => n.rxDropsPerSec],
    ['laas_host_network_transmit_drops_per_second', 'Packets to send dropped per second over the last sampling interval', (n) => n.txDropsPerSec],
  ]),
  keyed('device', 'device', (s) => s.io, [
    ['laas_host_io_util_percent', 'Share of the sampling interval the block device was busy, percent', (d) => d.utilPercent],
    ['laas_host_io_await_seconds', 'Mean time a completed request took on the block device (queue and service)', (d) => d.awaitMs / 1000],
    ['laas_host_io_read_bytes_per_second', 'Bytes read per second from the block device', (d) => d.readBytesPerSec],
    ['laas_host_io_write_bytes_per_second', 'Bytes written per second to the block device', (d) => d.writeBytesPerSec],
  ]),
  keyed('service', 'service', (s) => s.service, [
    ['laas_host_service_up', '1 when the watched service answers its probe, 0 when not', (x) => (x.up ? 1 : 0)],
    ['laas_host_service_changed_timestamp_seconds', 'When the watched service last changed between up and down', (x) => x.since / 1000],
    ['laas_host_service_latency_seconds', "How long the service's last http or tcp probe took to answer", (x) => seconds(x.latencyMs)],
    ['laas_host_service_http_status', 'The HTTP status the last http probe got', (x) => x.status],
  ]),
  keyed('check', 'check', (s) => s.check, [
    ['laas_host_check_status', "A command check's last exit status: 0 ok, 1 warning, 2 critical, 3 unknown", (c) => c.status],
    ['laas_host_check_duration_seconds', "How long a command check's last run took", (c) => c.durationMs / 1000],
    ['laas_host_check_run_timestamp_seconds', "When a command check's last run ended", (c) => c.at / 1000],
  ]),
  perf,
  keyed('cert', 'cert', (s) => s.cert, [
    ['laas_host_cert_days_left', "Days until the certificate's notAfter, negative once expired (no series when it could not be read)", (c) => c.daysLeft],
    ['laas_host_cert_expiry_timestamp_seconds', "The certificate's notAfter", (c) => seconds(c.notAfter)],
    ['laas_host_cert_error', '1 when the certificate could not be read or checked', (c) => (c.error === undefined ? 0 : 1)],
  ]),
  keyed('ping', 'ping', (s) => s.ping, [
    ['laas_host_ping_up', '1 when at least one echo reply came back', (p) => (p.up ? 1 : 0)],
    ['laas_host_ping_loss_percent', 'Echo requests without a reply, percent', (p) => p.lossPercent],
    ['laas_host_ping_rtt_seconds', 'Mean round-trip time of the replies', (p) => seconds(p.rttMs)],
    ['laas_host_ping_rtt_max_seconds', 'Longest round-trip time of the replies', (p) => seconds(p.rttMaxMs)],
  ]),
  keyed('dns', 'dns', (s) => s.dns, [
    ['laas_host_dns_ok', '1 when the name resolved (to the expected answer, when one is set)', (d) => (d.ok ? 1 : 0)],
    ['laas_host_dns_lookup_seconds', 'How long the lookup took', (d) => d.ms / 1000],
  ]),
  keyed('log', 'log', (s) => s.log, [
    ['laas_host_log_matches', "Lines matching the log watch's pattern within its window", (l) => l.count],
    ['laas_host_log_error', '1 when the log cannot be read now (missing, unreadable)', (l) => (l.error === undefined ? 0 : 1)],
  ]),
  // Scraped series are not copied here: they are Prometheus series already (scrape the exporter,
  // or remote-write from it); their count per source shows a source going quiet or chatty.
  keyed('source', 'source', (s) => s.metric, [
    ['laas_host_metric_series', 'Series the agent scraped from a Prometheus exporter source', (m) => Object.keys(m).length],
    // The agent's own `up` for the source (not the exporter's): a failed scrape still has its 4 synthetic series.
    ['laas_host_metric_up', "1 when the source's last scrape read and parsed its page, 0 when not", (m) => m.up],
  ]),
];

/** Every family in FACT_SECTIONS, in order (metrics.ts registers a gauge for each). */
export const FACT_FAMILIES: readonly Family[] = FACT_SECTIONS.flatMap((s) => s.families);
