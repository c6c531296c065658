import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARDS_DIR, fillVariables, loadDashboards, metricNames, panelQueries, type PanelQuery } from '../helpers/dashboards.js';
import { everyFact } from '../helpers/every-fact.js';
import { AGENT_TOKEN, Fleet } from '../helpers/fleet.js';
import { freePort, stopAll, waitFor } from '../helpers/procs.js';
import { startReceiver } from '../helpers/receiver.js';
import { SimAgent } from '../helpers/sim-agent.js';

const PROMETHEUS = process.env.LAAS_PROMETHEUS_BIN ?? '/usr/bin/prometheus';
const HAVE_PROMETHEUS = existsSync(PROMETHEUS);
if (!HAVE_PROMETHEUS && !process.env.CI) {
  console.warn(`[prometheus-dashboards] skipped: no Prometheus at ${PROMETHEUS} (install it with "apt-get install -y prometheus"; CI must have it)`);
}

// Without Prometheus the dashboards are unproven: CI must fail, a laptop may skip (said above).
it.runIf(process.env.CI)('CI has a Prometheus binary to test the dashboards against', () => {
  expect(HAVE_PROMETHEUS, `no Prometheus at ${PROMETHEUS}: add the Debian package "prometheus" to .ci/run's apt-get line`).toBe(true);
});

interface Heal {
  id: string;
  rule: string;
  host: string;
  state: string;
}
interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

/** What Grafana puts in place of its variables before a query reaches Prometheus. */
const GRAFANA_VARS = { __rate_interval: '1m', __interval: '15s', __range: '5m', __range_s: '300', datasource: 'laas-prometheus' };

const SIM_HOSTS = ['sim-1', 'sim-2', 'sim-3', 'sim-4'];
/** Series any Linux agent sends with nothing configured, on any machine: the ones web-1's panels must show. */
const REAL_AGENT_SERIES =
  /^laas_host_(up|last_seen_timestamp_seconds|cpu_\w+|memory_(used_percent|available_bytes|total_bytes|swap_used_percent|swap_used_bytes)|disk_(used_percent|total_bytes|read_only)|service_(up|changed_timestamp_seconds)|system_(uptime_seconds|reboot_required|processes|zombies|fds_used|tcp_established))$/;
const GiB = 2 ** 30;

/**
 * The dashboards against the real thing: Prometheus (the Debian package's binary) scraping a
 * controller child process every second, with one real agent watching a real service and four
 * simulated agents. One fault is healed (twice, so the counters move under Prometheus's eyes),
 * one heal fails, one is stopped by a brake, one is recorded in shadow mode, one alert stays
 * firing. Then every query of every panel, with Grafana's variables filled in, must return data.
 */
describe.skipIf(!HAVE_PROMETHEUS && !process.env.CI)('the Grafana dashboards against a real Prometheus', () => {
  // Made in beforeAll, so a skipped run leaves no temp folders behind.
  let fleet: Fleet;
  let promDir = '';
  let prom: ChildProcess | undefined;
  let promLog = '';
  let promUrl = '';
  const sims: SimAgent[] = [];
  let sampler: NodeJS.Timeout | undefined;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let agentMetricsPort = 0;

  async function query(expr: string): Promise<PromSample[]> {
    const res = await fetch(`${promUrl}/api/v1/query`, { method: 'POST', body: new URLSearchParams({ query: expr, time: String(Date.now() / 1000) }) });
    const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: PromSample[] | [number, string] } };
    if (body.status !== 'success') throw new Error(`Prometheus refused ${expr}: ${body.error}`);
    const r = body.data!.result;
    // A scalar result (e.g. time()) is one value; vectors are lists of series.
    return body.data!.resultType === 'scalar' ? [{ metric: {}, value: r as [number, string] }] : (r as PromSample[]);
  }
  const value = async (expr: string): Promise<number | undefined> => {
    const r = await query(expr);
    return r.length ? Number(r[0].value[1]) : undefined;
  };

  beforeAll(async () => {
    if (!HAVE_PROMETHEUS) {
      throw new Error(
        `no Prometheus binary at ${PROMETHEUS}: CI must install the Debian package "prometheus" (.ci/run's apt-get line) — this test is what proves the dashboards work`,
      );
    }
    fleet = new Fleet();
    promDir = mkdtempSync(join(tmpdir(), 'laas-prom-'));
    receiver = await startReceiver();
    const svc = await fleet.service('svc');
    fleet.rule('web', 'svc-down', {
      hosts: { role: 'web' },
      severity: 'critical',
      summary: 'svc is down on {{host}}',
      notify: ['ops'],
      when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] },
      heal: { action: 'service.restart', params: { service: 'svc' }, maxPerHour: 10 },
    });
    // sim-1's /data is 95% full: fires and stays firing; its heal is only recorded (shadow).
    fleet.rule('sim', 'data-full', {
      hosts: { role: 'sim' },
      severity: 'warning',
      summary: '/data is nearly full on {{host}}',
      mode: 'shadow',
      when: { all: [{ fact: 'disk', path: "$['/data'].usedPercent", operator: 'greaterThan', value: 90 }] },
      heal: { action: 'script.run', params: { name: 'cleanup' } },
    });
    // sim-2's worker dies and its agent reports the restart failed: an escalation.
    fleet.rule('sim', 'worker-down', {
      hosts: { role: 'sim' },
      severity: 'critical',
      summary: 'worker is down on {{host}}',
      notify: ['ops'],
      when: { all: [{ fact: 'service', path: '$.worker.up', operator: 'equal', value: false }] },
      heal: { action: 'service.restart', params: { service: 'worker' }, verifyWithin: '2s' },
    });
    // sim-3's cache dies, but its rule never heals automatically: a brake stops it.
    fleet.rule('sim', 'cache-down', {
      hosts: { role: 'sim' },
      severity: 'info',
      summary: 'cache is down on {{host}}',
      when: { all: [{ fact: 'service', path: '$.cache.up', operator: 'equal', value: false }] },
      heal: { action: 'service.restart', params: { service: 'cache' }, maxPerHour: 0 },
    });
    await fleet.startController({ receivers: { ops: { type: 'webhook', url: receiver.url } } });

    // Prometheus, from the shipped scrape config with only the target and interval changed.
    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    const shipped = readFileSync(join(DASHBOARDS_DIR, 'prometheus.yml'), 'utf8');
    const config = shipped.replace('"127.0.0.1:7070"', `"127.0.0.1:${fleet.port}"`).replace(/(scrape_interval|evaluation_interval): 15s/g, '$1: 1s');
    expect(config.match(/: 1s/g)).toHaveLength(2);
    expect(config).toContain(`127.0.0.1:${fleet.port}`);
    writeFileSync(join(promDir, 'prometheus.yml'), config);
    prom = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(promDir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(promDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prom.stdout!.on('data', (d: Buffer) => {
      promLog += d.toString();
    });
    prom.stderr!.on('data', (d: Buffer) => {
      promLog += d.toString();
    });

    agentMetricsPort = await freePort();
    fleet.startAgent('web-1', {
      interval: '1s',
      metrics: { listen: `127.0.0.1:${agentMetricsPort}` },
      services: [{ name: 'svc', probe: { tcp: `127.0.0.1:${svc.port}` }, probeInterval: '250ms', restart: svc.restart }],
    });
    for (const [i, id] of SIM_HOSTS.entries()) {
      const sim = new SimAgent(fleet.url, AGENT_TOKEN, id, { role: 'sim' }, 1000);
      sim.services = {
        web: { up: true, since: Date.now(), latencyMs: 12 + i, status: 200 },
        worker: { up: true, since: Date.now() },
        cache: { up: true, since: Date.now() },
      };
      if (id === 'sim-2') sim.outcome = 'failed';
      await sim.connect();
      sims.push(sim);
    }
    const report = () =>
      sims.forEach((s, i) => {
        // Every fact the protocol knows (io, system, checks, certs, pings, DNS, logs…), with this test's own
        // cpu, memory, disks and network; services stay the sim's own (the faults above flip them).
        const { service: _, ...every } = everyFact(i);
        s.sample('interval', {
          ...every,
          cpu: { usage: 10 + 20 * i + Math.random() * 5, load1: 0.5 + i, load5: 0.4 + i, load15: 0.3 + i, cores: 4, load1PerCore: (0.5 + i) / 4 },
          memory: { ...every.memory!, usedPercent: 40 + 10 * i, availableBytes: (8 - i) * GiB, totalBytes: 16 * GiB },
          disk: {
            '/': { usedPercent: 30 + 5 * i, freeBytes: (70 - 5 * i) * GiB, totalBytes: 100 * GiB, inodesUsedPercent: 10 + i, readOnly: false },
            '/data': { usedPercent: i === 0 ? 95 : 50, freeBytes: (i === 0 ? 25 : 250) * GiB, totalBytes: 500 * GiB, inodesUsedPercent: 92, readOnly: i === 0 },
          },
          net: { eth0: { ...every.net!.eth0, rxBytesPerSec: 1e6 * (i + 1), txBytesPerSec: 5e5 * (i + 1) }, eth1: every.net!.eth1 },
          // What the agent's scrape source reports: the exporter's series and its own up (0 for the app's, which fails).
          metric: {
            node: { node_load1: 0.5, up: 1, scrape_duration_seconds: 0.01, scrape_samples_scraped: 1, scrape_series_dropped: 0 },
            app: { up: 0, scrape_duration_seconds: 0.2, scrape_samples_scraped: 0, scrape_series_dropped: 0 },
          },
        });
      });
    report();
    sampler = setInterval(report, 1000);

    await waitFor('Prometheus to scrape the controller', async () => (await value('up{job="laas"}')) === 1, 20_000, 200);
    await waitFor('all five hosts in Prometheus', async () => (await value('sum(laas_host_up)')) === 5, 15_000, 200);

    // One fault healed — twice, so Prometheus sees laas_heal_actions_total go up, not just appear.
    for (const n of [1, 2]) {
      process.kill(svc.pid(), 'SIGKILL');
      await waitFor(
        `heal ${n} of svc to succeed`,
        async () => (await fleet.api<Heal[]>('/api/v1/heals?state=succeeded')).filter((h) => h.rule === 'web/svc-down').length === n,
        20_000,
        100,
      );
      await waitFor(
        `Prometheus to see heal ${n}`,
        async () => (await value('sum(laas_heal_actions_total{rule="web/svc-down",outcome="succeeded"})')) === n,
        10_000,
        200,
      );
    }
    sims[1].setService('worker', false);
    sims[2].setService('cache', false);
    await waitFor(
      'the failed and the skipped heal',
      async () => {
        const heals = await fleet.api<Heal[]>('/api/v1/heals');
        return (
          heals.some((h) => h.host === 'sim-2' && h.state === 'failed') &&
          heals.some((h) => h.host === 'sim-3' && h.state === 'skipped') &&
          heals.some((h) => h.host === 'sim-1' && h.state === 'shadow')
        );
      },
      15_000,
      100,
    );
    await waitFor('Prometheus to see the escalation', async () => (await value('sum(laas_heal_escalations_total)')) === 1, 10_000, 200);
  }, 60_000);

  afterAll(async () => {
    clearInterval(sampler);
    for (const s of sims) s.stop();
    if (prom && prom.exitCode === null && prom.signalCode === null) {
      const exited = new Promise((r) => prom!.once('exit', r));
      prom.kill('SIGTERM');
      const t = setTimeout(() => prom!.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    await stopAll();
    await receiver?.close();
    await fleet?.cleanup();
    if (promDir) rmSync(promDir, { recursive: true, force: true });
  });

  /** Runs every query until all return data (rate windows need a few scrapes), then reports the empty ones. */
  async function emptyQueries(queries: PanelQuery[], vars: Record<string, string>): Promise<string[]> {
    let empty: string[];
    const until = Date.now() + 10_000;
    do {
      empty = [];
      for (const q of queries) {
        const expr = fillVariables(q.expr, vars);
        if ((await query(expr)).length === 0) empty.push(`${q.dashboard} panel ${q.panelId} "${q.panel}" ${q.refId}: ${expr}`);
      }
      if (empty.length) await new Promise((r) => setTimeout(r, 500));
    } while (empty.length && Date.now() < until);
    return empty;
  }

  it('every panel query of every dashboard returns data', async () => {
    const boards = loadDashboards().map((b) => b.dashboard);
    const queries = boards.flatMap(panelQueries);
    expect(queries.length).toBeGreaterThan(60);
    const empty = await emptyQueries(queries, { ...GRAFANA_VARS, host: 'sim-1' });
    expect(empty, `queries with no data:\n${empty.join('\n')}\n\nPrometheus log:\n${promLog}`).toEqual([]);
  }, 30_000);

  it("the host dashboard shows the real agent's host and its service", async () => {
    const host = loadDashboards().find((b) => b.file === 'host-detail.json')!.dashboard;
    // The real agent reports what this machine has: cpu, memory, its root filesystem, its service.
    // Checks, certs, pings, DNS, logs and scrapes need configuring; interfaces, block devices, inodes,
    // systemd, chrony and rates after one interval depend on the machine (a container has fewer).
    const wanted = panelQueries(host).filter((q) => metricNames(q.expr).every((n) => REAL_AGENT_SERIES.test(n)));
    expect(wanted.length).toBeGreaterThan(20);
    expect(await emptyQueries(wanted, { ...GRAFANA_VARS, host: 'web-1' })).toEqual([]);
    expect(await value('laas_host_service_up{host="web-1",service="svc"}')).toBe(1);
    expect(await value('laas_host_memory_total_bytes{host="web-1"}')).toBeGreaterThan(0);
  }, 20_000);

  it("the numbers are the fleet's: hosts, agents, heals, alerts, brakes", async () => {
    expect(await value('sum(laas_host_up)')).toBe(5);
    expect(await value('laas_link_agents_connected')).toBe(5);
    expect((await query('laas_host_up')).map((s) => s.metric.host).sort()).toEqual(['sim-1', 'sim-2', 'sim-3', 'sim-4', 'web-1']);
    expect(await value('sum(laas_heal_actions_total{rule="web/svc-down",action="service.restart",outcome="succeeded"})')).toBe(2);
    expect(await value('laas_heal_fault_to_dispatch_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(await value('laas_heal_duration_seconds_count{action="service.restart"}')).toBeGreaterThanOrEqual(2);
    // The success ratio panel: the second svc heal counted by increase(), out of the verdicts seen moving.
    const ratio = await value(
      'sum(increase(laas_heal_actions_total{outcome="succeeded"}[5m])) / (sum(increase(laas_heal_actions_total{outcome=~"succeeded|failed|timed-out"}[5m])) > 0)',
    );
    expect(ratio).toBeGreaterThan(0);
    expect(ratio).toBeLessThanOrEqual(1);
    const firing = await query('sum by (rule, severity) (laas_alerts_active{state="firing"}) > 0');
    expect(firing.map((s) => `${s.metric.rule} ${s.metric.severity}`).sort()).toEqual([
      'sim/cache-down info',
      'sim/data-full warning',
      'sim/worker-down critical',
    ]);
    expect(await value('laas_heal_shadow_total{rule="sim/data-full"}')).toBeGreaterThanOrEqual(1);
    expect((await query('laas_heal_skipped_total{rule="sim/cache-down"}')).length).toBe(1);
    expect((await query('laas_host_disk_used_percent{host="sim-1"}')).map((s) => s.metric.mount).sort()).toEqual(['/', '/data']);
    expect((await query('laas_host_network_receive_bytes_per_second{host="sim-2"}')).map((s) => s.metric.interface).sort()).toEqual(['eth0', 'eth1']);
    expect(await value('laas_host_service_up{host="sim-2",service="worker"}')).toBe(0);
    expect(await value('sum(laas_notify_attempts_total{receiver="ops",outcome="sent"})')).toBeGreaterThanOrEqual(1);
  });

  it("the host dashboard's fact panels show what sim-1 sent, entry by entry", async () => {
    const host = loadDashboards().find((b) => b.file === 'host-detail.json')!.dashboard;
    /** A panel query's answer for sim-1, as {label value: number} by the entry's label. */
    const shown = async (title: string, refId: string, label: string): Promise<Record<string, number>> => {
      const q = panelQueries(host).find((x) => x.panel === title && x.refId === refId);
      expect(q, `host-detail panel "${title}" ${refId}`).toBeDefined();
      const r = await query(fillVariables(q!.expr, { ...GRAFANA_VARS, host: 'sim-1' }));
      return Object.fromEntries(r.map((x) => [x.metric[label] ?? '', Number(x.value[1])]));
    };
    expect(await shown('Checks now', 'A', 'check')).toEqual({ 'disk-root': 1, load: 0 });
    expect(await shown('Mounts now', 'D', 'mount')).toEqual({ '/': 0, '/data': 1 });
    expect(await shown('Mounts now', 'C', 'mount')).toEqual({ '/': 10, '/data': 92 });
    expect(await shown('Exporter sources now', 'A', 'source')).toEqual({ node: 1, app: 0 });
    expect(await shown('Exporter sources now', 'B', 'source')).toEqual({ node: 5, app: 4 });
    expect(await shown('Certificates: days left', 'A', 'cert')).toEqual({ 'www-tls': 12.5 });
    expect(await shown('Interfaces up and down', 'A', 'interface')).toEqual({ eth0: 1, eth1: 0 });
    expect(await shown('Pings and DNS answering', 'A', 'ping')).toEqual({ gateway: 1 });
    expect(await shown('Pings and DNS answering', 'B', 'dns')).toEqual({ 'www-a': 1 });
    expect(await shown('Ping round trip', 'A', 'ping')).toEqual({ gateway: 0.0008 });
    expect(await shown('I/O await, by device', 'A', 'device')).toEqual({ sda: 0.0045 });
    expect(await shown('Log matches', 'A', 'log')).toEqual({ 'app-errors': 3 });
    expect(await shown('Services now', 'C', 'service')).toEqual({ web: 0.012 });
    expect(await shown('Services now', 'D', 'service')).toEqual({ web: 200 });
    expect(await shown('File descriptors', 'B', '')).toEqual({ '': 65_536 });
    expect(await shown('Reboot required', 'A', '')).toEqual({ '': 1 });
    expect(await shown('Swap-in', 'A', '')).toEqual({ '': 3 });
  });

  it('the real agent serves its own /metrics when configured: facts, link, instructions', async () => {
    const text = await (await fetch(`http://127.0.0.1:${agentMetricsPort}/metrics`)).text();
    expect(text).toContain('laas_agent_link_connected 1');
    expect(text).toContain('laas_agent_link_connects_total 1');
    expect(text).toContain('laas_agent_service_up{service="svc"} 1');
    expect(text).toContain('laas_agent_instructions_total{action="service.restart",outcome="succeeded"} 2');
    expect(text).toMatch(/^laas_agent_memory_total_bytes [1-9]/m);
    expect(text).toMatch(/^laas_agent_process_resident_memory_bytes [1-9]/m);
  });
});
