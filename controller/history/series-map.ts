/**
 * Which Prometheus series stand for which fact path, for `laas rules backtest` (docs/backtest.md
 * prints these tables). Two sources: the series laas itself exports (/metrics, remote-write:
 * controller/fact-series.ts names them) and node_exporter's, for history recorded before laas.
 * Each entry is one PromQL query whose every result series gives one fact field of one host
 * (and one key: a mount, an interface…). Text facts (outputs, names) are not in Prometheus.
 */
export interface SeriesMapping {
  fact: string;
  /** The field under the fact (or under its key). */
  field: string;
  query: string;
  /** The label holding the key of a keyed fact (mount, interface…). */
  key?: string;
  /** Multiply the value by this (seconds → ms). */
  scale?: number;
  /** 1/0 → true/false. */
  bool?: boolean;
}

export type HistorySource = 'laas' | 'node';

const laas = (fact: string, key: string | undefined, rows: [suffix: string, field: string, extra?: Partial<SeriesMapping>][]): SeriesMapping[] =>
  rows.map(([suffix, field, extra]) => ({ fact, field, query: `laas_host_${suffix}`, ...(key ? { key } : {}), ...extra }));
const ms = { scale: 1000 };
const bool = { bool: true };

/** The series laas exports, back to the facts they came from (every numeric field that has one). */
export const LAAS_SERIES: readonly SeriesMapping[] = [
  ...laas('cpu', undefined, [
    ['cpu_usage_percent', 'usage'],
    ['cpu_load1', 'load1'],
    ['cpu_load5', 'load5'],
    ['cpu_load15', 'load15'],
    ['cpu_cores', 'cores'],
  ]),
  { fact: 'cpu', field: 'load1PerCore', query: 'laas_host_cpu_load1 / laas_host_cpu_cores' },
  ...laas('memory', undefined, [
    ['memory_used_percent', 'usedPercent'],
    ['memory_available_bytes', 'availableBytes'],
    ['memory_total_bytes', 'totalBytes'],
    ['memory_swap_used_percent', 'swapUsedPercent'],
    ['memory_swap_used_bytes', 'swapUsedBytes'],
    ['memory_swap_in_pages_per_second', 'swapInPerSec'],
  ]),
  ...laas('system', undefined, [
    ['system_uptime_seconds', 'uptimeSec'],
    ['system_reboot_required', 'rebootRequired', bool],
    ['system_processes', 'processes'],
    ['system_zombies', 'zombies'],
    ['system_fds_used', 'fdUsed'],
    ['system_fds_max', 'fdMax'],
    ['system_fds_used_percent', 'fdUsedPercent'],
    ['system_oom_kills', 'oomKills'],
    ['system_tcp_established', 'tcpEstablished'],
    ['system_tcp_retransmits_per_second', 'tcpRetransPerSec'],
    ['system_clock_synced', 'clockSynced', bool],
    ['system_clock_offset_seconds', 'clockOffsetMs', ms],
  ]),
  ...laas('disk', 'mount', [
    ['disk_used_percent', 'usedPercent'],
    ['disk_free_bytes', 'freeBytes'],
    ['disk_total_bytes', 'totalBytes'],
    ['disk_inodes_used_percent', 'inodesUsedPercent'],
    ['disk_read_only', 'readOnly', bool],
  ]),
  ...laas('net', 'interface', [
    ['network_receive_bytes_per_second', 'rxBytesPerSec'],
    ['network_transmit_bytes_per_second', 'txBytesPerSec'],
    ['network_up', 'up', bool],
    ['network_receive_errors_per_second', 'rxErrorsPerSec'],
    ['network_transmit_errors_per_second', 'txErrorsPerSec'],
    ['network_receive_drops_per_second', 'rxDropsPerSec'],
    ['network_transmit_drops_per_second', 'txDropsPerSec'],
  ]),
  ...laas('io', 'device', [
    ['io_util_percent', 'utilPercent'],
    ['io_await_seconds', 'awaitMs', ms],
    ['io_read_bytes_per_second', 'readBytesPerSec'],
    ['io_write_bytes_per_second', 'writeBytesPerSec'],
  ]),
  ...laas('service', 'service', [
    ['service_up', 'up', bool],
    ['service_changed_timestamp_seconds', 'since', ms],
    ['service_latency_seconds', 'latencyMs', ms],
    ['service_http_status', 'status'],
  ]),
  ...laas('check', 'check', [
    ['check_status', 'status'],
    ['check_duration_seconds', 'durationMs', ms],
    ['check_run_timestamp_seconds', 'at', ms],
  ]),
  ...laas('cert', 'cert', [
    ['cert_days_left', 'daysLeft'],
    ['cert_expiry_timestamp_seconds', 'notAfter', ms],
  ]),
  ...laas('ping', 'ping', [
    ['ping_up', 'up', bool],
    ['ping_loss_percent', 'lossPercent'],
    ['ping_rtt_seconds', 'rttMs', ms],
    ['ping_rtt_max_seconds', 'rttMaxMs', ms],
  ]),
  ...laas('dns', 'dns', [
    ['dns_ok', 'ok', bool],
    ['dns_lookup_seconds', 'ms', ms],
  ]),
  ...laas('log', 'log', [['log_matches', 'count']]),
  ...laas('metric', 'source', [['metric_up', 'up']]),
];

/** node_exporter's series (host = its `instance` without the port), as close to laas's facts as they come. */
export const NODE_SERIES: readonly SeriesMapping[] = [
  { fact: 'cpu', field: 'usage', query: '100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[2m])))' },
  { fact: 'cpu', field: 'load1', query: 'node_load1' },
  { fact: 'cpu', field: 'load5', query: 'node_load5' },
  { fact: 'cpu', field: 'load15', query: 'node_load15' },
  { fact: 'cpu', field: 'cores', query: 'count by (instance) (node_cpu_seconds_total{mode="idle"})' },
  { fact: 'cpu', field: 'load1PerCore', query: 'node_load1 / on (instance) count by (instance) (node_cpu_seconds_total{mode="idle"})' },
  { fact: 'memory', field: 'usedPercent', query: '100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)' },
  { fact: 'memory', field: 'availableBytes', query: 'node_memory_MemAvailable_bytes' },
  { fact: 'memory', field: 'totalBytes', query: 'node_memory_MemTotal_bytes' },
  { fact: 'memory', field: 'swapInPerSec', query: 'rate(node_vmstat_pswpin[2m])' },
  { fact: 'system', field: 'uptimeSec', query: 'time() - node_boot_time_seconds' },
  { fact: 'system', field: 'oomKills', query: 'node_vmstat_oom_kill' },
  { fact: 'system', field: 'fdUsed', query: 'node_filefd_allocated' },
  { fact: 'system', field: 'fdMax', query: 'node_filefd_maximum' },
  { fact: 'system', field: 'fdUsedPercent', query: '100 * node_filefd_allocated / node_filefd_maximum' },
  { fact: 'system', field: 'tcpEstablished', query: 'node_netstat_Tcp_CurrEstab' },
  { fact: 'system', field: 'tcpRetransPerSec', query: 'rate(node_netstat_Tcp_RetransSegs[2m])' },
  { fact: 'system', field: 'clockSynced', query: 'node_timex_sync_status', bool: true },
  { fact: 'system', field: 'clockOffsetMs', query: 'node_timex_offset_seconds', scale: 1000 },
  { fact: 'disk', key: 'mountpoint', field: 'usedPercent', query: '100 * (1 - node_filesystem_avail_bytes / node_filesystem_size_bytes)' },
  { fact: 'disk', key: 'mountpoint', field: 'freeBytes', query: 'node_filesystem_avail_bytes' },
  { fact: 'disk', key: 'mountpoint', field: 'totalBytes', query: 'node_filesystem_size_bytes' },
  { fact: 'disk', key: 'mountpoint', field: 'inodesUsedPercent', query: '100 * (1 - node_filesystem_files_free / node_filesystem_files)' },
  { fact: 'disk', key: 'mountpoint', field: 'readOnly', query: 'node_filesystem_readonly', bool: true },
  { fact: 'net', key: 'device', field: 'up', query: 'node_network_up', bool: true },
  { fact: 'net', key: 'device', field: 'rxBytesPerSec', query: 'rate(node_network_receive_bytes_total[2m])' },
  { fact: 'net', key: 'device', field: 'txBytesPerSec', query: 'rate(node_network_transmit_bytes_total[2m])' },
  { fact: 'net', key: 'device', field: 'rxErrorsPerSec', query: 'rate(node_network_receive_errs_total[2m])' },
  { fact: 'net', key: 'device', field: 'txErrorsPerSec', query: 'rate(node_network_transmit_errs_total[2m])' },
  { fact: 'io', key: 'device', field: 'utilPercent', query: '100 * rate(node_disk_io_time_seconds_total[2m])' },
];

export const SERIES: Record<HistorySource, { hostLabel: string; mappings: readonly SeriesMapping[] }> = {
  laas: { hostLabel: 'host', mappings: LAAS_SERIES },
  node: { hostLabel: 'instance', mappings: NODE_SERIES },
};

/** The mappings a set of rules needs: those of the facts they read. */
export function mappingsFor(source: HistorySource, facts: ReadonlySet<string>): SeriesMapping[] {
  return SERIES[source].mappings.filter((m) => facts.has(m.fact));
}

/** The host a result series is about: laas's `host` label, or node_exporter's `instance` without its port (laas names hosts without one). */
export function hostOf(source: HistorySource, metric: Record<string, string>): string | undefined {
  const raw = metric[SERIES[source].hostLabel];
  return source === 'node' ? raw?.replace(/:\d+$/, '') : raw;
}
