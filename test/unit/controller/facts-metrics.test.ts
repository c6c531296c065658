import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../controller/metrics.js';
import type { Sample } from '../../../protocol/index.js';
import { everyFact } from '../../helpers/every-fact.js';

const GiB = 2 ** 30;

function sample(extra: Partial<Sample> = {}): Sample {
  return {
    seq: 0,
    ts: 0,
    trigger: 'interval',
    cpu: { usage: 12.5, load1: 1, load5: 2, load15: 3 },
    memory: { usedPercent: 40, availableBytes: 6 * GiB, totalBytes: 16 * GiB },
    disk: { '/': { usedPercent: 30, freeBytes: 70 * GiB, totalBytes: 100 * GiB } },
    net: { eth0: { rxBytesPerSec: 1000, txBytesPerSec: 500 } },
    service: { api: { up: true, since: 1_700_000_000_000 } },
    ...extra,
  };
}

/** /metrics as a map of series line → value, comments left out. */
async function scrape(m: ReturnType<typeof createMetrics>): Promise<Map<string, number>> {
  const text = await m.registry.metrics();
  return new Map(
    text
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => {
        const i = l.lastIndexOf(' ');
        return [l.slice(0, i), Number(l.slice(i + 1))] as const;
      }),
  );
}
const seriesOf = (s: Map<string, number>, name: string) => [...s.keys()].filter((k) => k.startsWith(`${name}{`) || k === name);

describe('per-host fact gauges', () => {
  it('turns a sample into gauges named after the facts, labelled by host, mount, interface and service', async () => {
    const m = createMetrics();
    m.facts.record('web-1', sample());
    const s = await scrape(m);
    expect(s.get('laas_host_up{host="web-1"}')).toBe(1);
    expect(s.get('laas_host_cpu_usage_percent{host="web-1"}')).toBe(12.5);
    expect(s.get('laas_host_cpu_load15{host="web-1"}')).toBe(3);
    expect(s.get('laas_host_memory_total_bytes{host="web-1"}')).toBe(16 * GiB);
    expect(s.get('laas_host_disk_used_percent{host="web-1",mount="/"}')).toBe(30);
    expect(s.get('laas_host_network_transmit_bytes_per_second{host="web-1",interface="eth0"}')).toBe(500);
    expect(s.get('laas_host_service_up{host="web-1",service="api"}')).toBe(1);
    expect(s.get('laas_host_service_changed_timestamp_seconds{host="web-1",service="api"}')).toBe(1_700_000_000);
  });

  it('drops the series of a mount, interface or service the host stops reporting', async () => {
    const m = createMetrics();
    m.facts.record(
      'web-1',
      sample({ disk: { '/': sample().disk!['/'], '/mnt/usb': sample().disk!['/'] }, service: { api: { up: false, since: 0 }, old: { up: true, since: 0 } } }),
    );
    expect(seriesOf(await scrape(m), 'laas_host_disk_free_bytes')).toHaveLength(2);
    m.facts.record('web-1', sample({ service: { api: { up: false, since: 0 } } }));
    const s = await scrape(m);
    expect(seriesOf(s, 'laas_host_disk_free_bytes')).toEqual(['laas_host_disk_free_bytes{host="web-1",mount="/"}']);
    expect(seriesOf(s, 'laas_host_service_up')).toEqual(['laas_host_service_up{host="web-1",service="api"}']);
    expect(s.get('laas_host_service_up{host="web-1",service="api"}')).toBe(0);
  });

  it('keeps a sample without a section (a partial sample) from wiping that section', async () => {
    const m = createMetrics();
    m.facts.record('web-1', sample());
    m.facts.record('web-1', { seq: 1, ts: 0, trigger: 'service-change', service: { api: { up: false, since: 5000 } } });
    const s = await scrape(m);
    expect(s.get('laas_host_disk_used_percent{host="web-1",mount="/"}')).toBe(30);
    expect(s.get('laas_host_service_up{host="web-1",service="api"}')).toBe(0);
  });

  it('caps mounts, interfaces and services per host, keeps the ones it has, and counts what it left out', async () => {
    const m = createMetrics({ facts: { mounts: 2, interfaces: 3 } });
    const d = sample().disk!['/'];
    const n = sample().net!.eth0;
    const veths = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`veth${1000 + i}`, n]));
    m.facts.record('docker-1', sample({ disk: { '/var/lib/docker/x': d, '/': d, '/data': d }, net: { ...veths, eth0: n } }));
    let s = await scrape(m);
    expect(seriesOf(s, 'laas_host_disk_used_percent').sort()).toEqual([
      'laas_host_disk_used_percent{host="docker-1",mount="/"}',
      'laas_host_disk_used_percent{host="docker-1",mount="/data"}',
    ]);
    const ifaces = seriesOf(s, 'laas_host_network_receive_bytes_per_second');
    expect(ifaces).toHaveLength(3);
    expect(ifaces).toContain('laas_host_network_receive_bytes_per_second{host="docker-1",interface="eth0"}');
    expect(s.get('laas_host_facts_capped_total{kind="mount"}')).toBe(1);
    expect(s.get('laas_host_facts_capped_total{kind="interface"}')).toBe(48);
    // A new, shorter mount does not push out one already shown: graphs stay stable.
    m.facts.record('docker-1', sample({ disk: { '/a': d, '/': d, '/data': d }, net: { eth0: n } }));
    s = await scrape(m);
    expect(
      seriesOf(s, 'laas_host_disk_used_percent')
        .map((k) => /mount="([^"]*)"/.exec(k)![1])
        .sort(),
    ).toEqual(['/', '/data']);
    expect(seriesOf(s, 'laas_host_network_receive_bytes_per_second')).toHaveLength(1);
  });

  it('exports every numeric fact of issue 18 under its documented name, in base units', async () => {
    const m = createMetrics();
    m.facts.record('web-1', { seq: 0, ts: 0, trigger: 'interval', ...everyFact(0, 1_700_000_000_000) });
    const s = await scrape(m);
    const expected: Record<string, number> = {
      'laas_host_memory_swap_used_percent{host="web-1"}': 12.5,
      'laas_host_memory_swap_in_pages_per_second{host="web-1"}': 3,
      'laas_host_disk_inodes_used_percent{host="web-1",mount="/var/lib/data"}': 91,
      'laas_host_disk_read_only{host="web-1",mount="/var/lib/data"}': 1,
      'laas_host_disk_read_only{host="web-1",mount="/"}': 0,
      'laas_host_network_up{host="web-1",interface="eth1"}': 0,
      'laas_host_network_receive_errors_per_second{host="web-1",interface="eth0"}': 0.5,
      'laas_host_network_receive_drops_per_second{host="web-1",interface="eth0"}': 2,
      'laas_host_io_util_percent{host="web-1",device="sda"}': 35,
      'laas_host_io_await_seconds{host="web-1",device="sda"}': 0.0045,
      'laas_host_system_uptime_seconds{host="web-1"}': 86_400,
      'laas_host_system_reboot_required{host="web-1"}': 1,
      'laas_host_system_zombies{host="web-1"}': 1,
      'laas_host_system_fds_used_percent{host="web-1"}': 6.25,
      'laas_host_system_oom_kills{host="web-1"}': 2,
      'laas_host_system_tcp_retransmits_per_second{host="web-1"}': 0.25,
      'laas_host_system_failed_units{host="web-1"}': 1,
      'laas_host_system_clock_synced{host="web-1"}': 1,
      'laas_host_system_clock_offset_seconds{host="web-1"}': 0.0015,
      'laas_host_service_latency_seconds{host="web-1",service="nginx"}': 0.012,
      'laas_host_service_http_status{host="web-1",service="nginx"}': 200,
      'laas_host_check_status{host="web-1",check="disk-root"}': 1,
      'laas_host_check_duration_seconds{host="web-1",check="load"}': 0.003,
      'laas_host_check_perf{host="web-1",check="disk-root",label="/",uom="MB"}': 1234,
      'laas_host_check_perf{host="web-1",check="load",label="load1",uom=""}': 0.5,
      'laas_host_cert_days_left{host="web-1",cert="www-tls"}': 12.5,
      'laas_host_cert_error{host="web-1",cert="www-tls"}': 0,
      'laas_host_ping_loss_percent{host="web-1",ping="gateway"}': 20,
      'laas_host_ping_rtt_seconds{host="web-1",ping="gateway"}': 0.0008,
      'laas_host_dns_ok{host="web-1",dns="www-a"}': 1,
      'laas_host_dns_lookup_seconds{host="web-1",dns="www-a"}': 0.003,
      'laas_host_log_matches{host="web-1",log="app-errors"}': 3,
      'laas_host_log_error{host="web-1",log="app-errors"}': 0,
      'laas_host_metric_series{host="web-1",source="nginx"}': 2,
    };
    for (const [series, value] of Object.entries(expected)) expect(s.get(series), series).toBeCloseTo(value, 9);
    // Scraped series and text facts stay out.
    expect([...s.keys()].filter((k) => k.includes('nginx_up') || k.includes('java'))).toEqual([]);
    // nginx's page has no `up` of the agent's own (a test sample): no series rather than a made-up 1.
    expect(seriesOf(s, 'laas_host_metric_up')).toEqual([]);
  });

  it("exports each scrape source's up, the one of its synthetic series a dashboard needs", async () => {
    const m = createMetrics();
    const failed = { up: 0, scrape_duration_seconds: 0.2, scrape_samples_scraped: 0, scrape_series_dropped: 0 };
    m.facts.record('web-1', sample({ metric: { node: { ...failed, up: 1, node_load1: 0.5 }, app: failed } }));
    const s = await scrape(m);
    expect(s.get('laas_host_metric_up{host="web-1",source="node"}')).toBe(1);
    expect(s.get('laas_host_metric_up{host="web-1",source="app"}')).toBe(0);
    // A failed scrape still counts its synthetic series: the count alone cannot tell it from a small page.
    expect(s.get('laas_host_metric_series{host="web-1",source="app"}')).toBe(4);
  });

  it('has no series for a field the agent left out, and drops one the agent stops sending', async () => {
    const m = createMetrics();
    const full = everyFact();
    m.facts.record('web-1', { seq: 0, ts: 0, trigger: 'interval', ...full });
    expect((await scrape(m)).get('laas_host_cert_days_left{host="web-1",cert="www-tls"}')).toBe(12.5);
    m.facts.record('web-1', {
      seq: 1,
      ts: 0,
      trigger: 'interval',
      cert: { 'www-tls': { error: 'connect ECONNREFUSED' } },
      memory: { usedPercent: 1, availableBytes: 1, totalBytes: 2 },
      check: { load: full.check!.load },
    });
    const s = await scrape(m);
    expect(s.has('laas_host_cert_days_left{host="web-1",cert="www-tls"}')).toBe(false);
    expect(s.get('laas_host_cert_error{host="web-1",cert="www-tls"}')).toBe(1);
    expect(seriesOf(s, 'laas_host_memory_swap_used_percent')).toEqual([]);
    expect(seriesOf(s, 'laas_host_check_status')).toEqual(['laas_host_check_status{host="web-1",check="load"}']);
    expect(seriesOf(s, 'laas_host_check_perf')).toEqual(['laas_host_check_perf{host="web-1",check="load",label="load1",uom=""}']);
    // Sections this sample did not carry keep their series.
    expect(s.get('laas_host_io_util_percent{host="web-1",device="sda"}')).toBe(35);
  });

  it('bounds a host with 500 checks of 100 perf values each to its check and perf caps, and counts the rest', async () => {
    const m = createMetrics();
    const perf = Object.fromEntries(Array.from({ length: 100 }, (_, j) => [`p${j}`, { value: j, uom: 'ms' }]));
    const check = Object.fromEntries(
      Array.from({ length: 500 }, (_, i) => [`c${i}`, { status: 0, state: 'ok' as const, output: 'OK', perf, durationMs: 1, at: 0 }]),
    );
    m.facts.record('busy', { seq: 0, ts: 0, trigger: 'interval', check });
    const s = await scrape(m);
    expect(seriesOf(s, 'laas_host_check_status')).toHaveLength(64);
    expect(seriesOf(s, 'laas_host_check_perf')).toHaveLength(128);
    expect(s.get('laas_host_facts_capped_total{kind="check"}')).toBe(436);
    expect(s.get('laas_host_facts_capped_total{kind="perf"}')).toBe(50_000 - 128);
    expect([...s.keys()].filter((k) => k.includes('host="busy"')).length).toBeLessThan(64 * 3 + 128 + 2);
  });

  it('drops every fact series of a host silent past staleAfterMs at the next scrape, and brings them back when it reports', async () => {
    let now = 1_000_000;
    const m = createMetrics({ clock: () => now, facts: { staleAfterMs: 60_000 } });
    m.facts.record('web-1', sample());
    m.facts.record('web-2', sample());
    now += 59_000;
    m.facts.record('web-2', sample());
    now += 2_000;
    let s = await scrape(m);
    expect([...s.keys()].filter((k) => k.includes('host="web-1"'))).toEqual(['laas_host_up{host="web-1"}']);
    expect([...s.keys()].filter((k) => k.includes('host="web-2"')).length).toBeGreaterThan(10);
    expect(m.facts.hostCount).toBe(1);
    m.facts.record('web-1', sample());
    s = await scrape(m);
    expect(s.get('laas_host_disk_used_percent{host="web-1",mount="/"}')).toBe(30);
  });

  it('holds 24 fact series per host with 2 disks, 2 interfaces and 3 services', async () => {
    const m = createMetrics();
    const d = sample().disk!['/'];
    const n = sample().net!.eth0;
    const svc = { up: true, since: 0 };
    const hostSeries = (s: Map<string, number>) => [...s.keys()].filter((k) => k.startsWith('laas_host_')).length;
    const before = hostSeries(await scrape(m));
    for (let i = 0; i < 100; i++)
      m.facts.record(`h${i}`, sample({ disk: { '/': d, '/data': d }, net: { eth0: n, eth1: n }, service: { a: svc, b: svc, c: svc } }));
    const perHost = (hostSeries(await scrape(m)) - before) / 100;
    // up + 4 cpu + 3 memory + 2×3 disk + 2×2 net + 3×2 service
    expect(perHost).toBe(24);
  });

  it('gives per-host fact series to the first `hosts` hosts only; every host counts in the fleet summary, and a stale host frees its slot', async () => {
    let now = 1_000_000;
    const m = createMetrics({ clock: () => now, facts: { hosts: 2, staleAfterMs: 60_000 } });
    m.facts.record('a', sample({ cpu: { usage: 10, load1: 0, load5: 0, load15: 0 } }));
    m.facts.record('b', sample({ cpu: { usage: 20, load1: 0, load5: 0, load15: 0 } }));
    m.facts.record('c', sample({ cpu: { usage: 90, load1: 0, load5: 0, load15: 0 }, service: { api: { up: false, since: 0 } } }));
    let s = await scrape(m);
    expect(seriesOf(s, 'laas_host_cpu_usage_percent').sort()).toEqual(['laas_host_cpu_usage_percent{host="a"}', 'laas_host_cpu_usage_percent{host="b"}']);
    // host-up stays per host for every host: it is what the fleet dashboards count.
    expect(s.get('laas_host_up{host="c"}')).toBe(1);
    expect(s.get('laas_host_facts_capped_total{kind="host"}')).toBe(1);
    expect(s.get('laas_fleet_hosts_reporting')).toBe(3);
    expect(s.get('laas_fleet_hosts_without_fact_series')).toBe(1);
    expect(s.get('laas_fleet_cpu_usage_percent{stat="mean"}')).toBe(40);
    expect(s.get('laas_fleet_cpu_usage_percent{stat="max"}')).toBe(90);
    expect(s.get('laas_fleet_cpu_usage_percent{stat="min"}')).toBe(10);
    expect(s.get('laas_fleet_services_down')).toBe(1);
    // a and b go quiet; c keeps reporting and takes a freed slot.
    now += 61_000;
    m.facts.record('c', sample({ cpu: { usage: 50, load1: 0, load5: 0, load15: 0 } }));
    s = await scrape(m);
    expect(seriesOf(s, 'laas_host_cpu_usage_percent')).toEqual([]);
    m.facts.record('c', sample({ cpu: { usage: 50, load1: 0, load5: 0, load15: 0 } }));
    s = await scrape(m);
    expect(seriesOf(s, 'laas_host_cpu_usage_percent')).toEqual(['laas_host_cpu_usage_percent{host="c"}']);
    expect(s.get('laas_fleet_hosts_reporting')).toBe(1);
    expect(s.get('laas_fleet_services_down')).toBe(0);
  });

  it('serves the same text as the registry, yielding between metric families', async () => {
    // Host counts around the slice size (250 lines, the first slice holding the two header
    // lines), so a slice boundary falls on the last value and just before it; label values that
    // need escaping.
    for (const hosts of [248, 249, 498, 2500]) {
      const m = createMetrics();
      for (let i = 0; i < hosts; i++) m.facts.record(`h${i}`, sample());
      m.facts.record('odd "host"\\with\nnewline', sample());
      let ticks = 0;
      const timer = setInterval(() => {
        ticks++;
      }, 0);
      const text = await m.text();
      clearInterval(timer);
      // The process's own series (CPU, memory, the scrape's own timing) differ between two reads.
      const strip = (t: string) =>
        t
          .split('\n')
          .filter((l) => !l.startsWith('laas_controller_'))
          .join('\n');
      expect(strip(text)).toBe(strip(await m.registry.metrics()));
      expect(ticks).toBeGreaterThan(0);
    }
  });

  it('reports how long the previous scrape held the event loop, and the open descriptors without walking them synchronously', async () => {
    const m = createMetrics();
    for (let i = 0; i < 3000; i++) m.facts.record(`h${i}`, sample());
    await m.text();
    const text = await m.text();
    const block = Number(/^laas_controller_metrics_scrape_block_seconds (\S+)$/m.exec(text)?.[1]);
    expect(block).toBeGreaterThan(0);
    expect(block).toBeLessThan(5);
    expect(text).not.toMatch(/^laas_controller_nodejs_active_(handles|resources)/m);
    if (process.platform === 'linux') expect(Number(/^laas_controller_process_open_fds (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(2);
  });
});
