import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { everyFact } from '../helpers/every-fact.js';
import { AGENT_TOKEN, Fleet } from '../helpers/fleet.js';
import { freePort, stopAll, waitFor } from '../helpers/procs.js';
import { HAVE_PROMETHEUS, PROMETHEUS, promQuery, startPrometheus } from '../helpers/prometheus.js';
import { SimAgent } from '../helpers/sim-agent.js';

if (!HAVE_PROMETHEUS && !process.env.CI) {
  console.warn(`[remote-write] skipped: no Prometheus at ${PROMETHEUS} (install it with "apt-get install -y prometheus"; CI must have it)`);
}

// Without Prometheus remote-write is unproven against a real receiver: CI must fail, a laptop may skip (said above).
it.runIf(process.env.CI)('CI has a Prometheus binary to receive remote-write', () => {
  expect(HAVE_PROMETHEUS, `no Prometheus at ${PROMETHEUS}: add the Debian package "prometheus" to .ci/run's apt-get line`).toBe(true);
});

const HOSTS = ['sim-1', 'sim-2', 'sim-3'];
/** Small on purpose: 3 hosts of every fact make ~250 series a second, so an outage passes the cap within seconds. */
const MAX_QUEUED = 400;

/** The controller's remote-write numbers, from its own /metrics (one target, so one series each). */
interface RwMetrics {
  sent: number;
  failed: number;
  dropped: number;
  retries: number;
  queued: number;
  samplesReceived: number;
}

/**
 * Remote-write against the real thing: Prometheus (the Debian package's binary) with its
 * remote-write receiver on, a controller child process sending every host's facts to it each
 * second, three simulated agents reporting every fact. The facts must arrive as series with a
 * `host` label; with Prometheus stopped the controller's queue must stay within its cap (the
 * oldest dropped and counted, the failures retried and counted) while it keeps taking samples;
 * with Prometheus started again on the same port and data, new samples must arrive.
 */
describe.skipIf(!HAVE_PROMETHEUS && !process.env.CI)('remote-write to a real Prometheus', () => {
  // Made in beforeAll, so a skipped run leaves no temp folders behind.
  let fleet: Fleet;
  let promDir = '';
  let promPort = 0;
  let prom: Awaited<ReturnType<typeof startPrometheus>> | undefined;
  const sims: SimAgent[] = [];
  let sampler: NodeJS.Timeout | undefined;

  const query = (expr: string) => promQuery(prom!.url, expr);

  async function rw(): Promise<RwMetrics> {
    const text = await (await fleet.fetch('/metrics')).text();
    const read = (name: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
      return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    return {
      sent: read('laas_remote_write_sent_samples_total'),
      failed: read('laas_remote_write_failed_samples_total'),
      dropped: read('laas_remote_write_dropped_samples_total'),
      retries: read('laas_remote_write_retries_total'),
      queued: read('laas_remote_write_queue_samples'),
      samplesReceived: read('laas_samples_received_total'),
    };
  }

  beforeAll(async () => {
    if (!HAVE_PROMETHEUS) {
      throw new Error(
        `no Prometheus binary at ${PROMETHEUS}: CI must install the Debian package "prometheus" (.ci/run's apt-get line) — this test is what proves remote-write works`,
      );
    }
    fleet = new Fleet();
    promDir = mkdtempSync(join(tmpdir(), 'laas-rw-prom-'));
    promPort = await freePort();
    prom = await startPrometheus(promPort, promDir);
    await fleet.startController({
      remoteWrite: [
        {
          url: prom.writeUrl,
          interval: '1s',
          timeout: '2s',
          minBackoff: '100ms',
          maxBackoff: '500ms',
          maxSamplesPerSend: 50,
          maxQueuedSamples: MAX_QUEUED,
        },
      ],
    });
    for (const id of HOSTS) {
      const sim = new SimAgent(fleet.url, AGENT_TOKEN, id, { role: 'sim' }, 500);
      await sim.connect();
      sims.push(sim);
    }
    const report = () => sims.forEach((s, i) => s.sample('interval', everyFact(i)));
    report();
    sampler = setInterval(report, 500);
  }, 60_000);

  afterAll(async () => {
    clearInterval(sampler);
    for (const s of sims) s.stop();
    await prom?.stop();
    await stopAll();
    await fleet?.cleanup();
    if (promDir) rmSync(promDir, { recursive: true, force: true });
  });

  it('every host arrives with its facts: cpu, a check status, disks', async () => {
    await waitFor(
      'all three hosts in Prometheus',
      async () =>
        (await query('laas_host_cpu_usage_percent'))
          .map((s) => s.metric.host)
          .sort()
          .join() === HOSTS.join(),
      20_000,
      200,
    );
    // everyFact(i): cpu usage (i * 7) % 100, the disk-root check warning (1), two mounts.
    const cpu = await query('laas_host_cpu_usage_percent');
    expect(Object.fromEntries(cpu.map((s) => [s.metric.host, Number(s.value[1])]))).toEqual({ 'sim-1': 0, 'sim-2': 7, 'sim-3': 14 });
    await waitFor('the check and disk series', async () => (await query('laas_host_check_status{check="load"}')).length === 3, 10_000, 200);
    const check = await query('laas_host_check_status{host="sim-2"}');
    expect(check.map((s) => `${s.metric.check}=${s.value[1]}`).sort()).toEqual(['disk-root=1', 'load=0']);
    const disks = await query('laas_host_disk_used_percent{host="sim-3"}');
    expect(disks.map((s) => `${s.metric.mount}=${s.value[1]}`).sort()).toEqual(['/=32', '/var/lib/data=50']);
    expect((await query('laas_host_check_perf{host="sim-1",check="disk-root"}'))[0]?.metric).toMatchObject({ label: '/', uom: 'MB' });
    expect((await query('laas_host_service_up{service="api"}')).length).toBe(3);
    const m = await rw();
    expect(m.sent).toBeGreaterThan(0);
    expect(m.failed).toBe(0);
  }, 40_000);

  it('with the receiver down the queue stays within its cap, the rest dropped and counted, and the controller keeps working', async () => {
    await prom!.stop();
    const before = await rw();
    // Down for good until restarted: the queue fills to the cap, then the oldest go.
    const over = await waitFor('samples dropped past the cap', async () => ((await rw()).dropped > before.dropped ? rw() : undefined), 20_000, 200);
    let last = over;
    let grew = 0;
    const queued: number[] = [];
    // Bounded: until the dropped count has grown 3 more times (a collection a second), 20 s at most.
    await waitFor(
      'the dropped count growing while the receiver stays down',
      async () => {
        const m = await rw();
        queued.push(m.queued);
        if (m.dropped > last.dropped) grew++;
        last = m;
        return grew >= 3;
      },
      20_000,
      200,
    );
    expect(Math.max(...queued), `queue gauge over time: ${queued.join(' ')}`).toBeLessThanOrEqual(MAX_QUEUED);
    // Full, not drained: the gauge reads the queue (a collection is ~250 samples, the cap 400).
    expect(Math.min(...queued)).toBeGreaterThan(0);
    // Failed requests are retried (counted), not refused for good.
    expect(last.retries).toBeGreaterThan(before.retries);
    expect(last.failed).toBe(0);
    expect(last.samplesReceived).toBeGreaterThan(before.samplesReceived);
    expect((await fleet.fetch('/healthz')).ok).toBe(true);
    expect(fleet.controller!.child.exitCode).toBeNull();
  }, 60_000);

  it('with the receiver back on the same port and data, new samples arrive', async () => {
    const sentBefore = (await rw()).sent;
    const restartedAt = Date.now() / 1000;
    prom = await startPrometheus(promPort, promDir);
    await waitFor(
      'samples stamped after the restart in Prometheus',
      async () => {
        const r = await query('timestamp(laas_host_cpu_usage_percent)');
        return r.length === 3 && r.every((s) => Number(s.value[1]) > restartedAt);
      },
      30_000,
      200,
    );
    // What was stored before the outage is still there: the same server, not a fresh one.
    expect((await query('count_over_time(laas_host_cpu_usage_percent{host="sim-1"}[10m])'))[0]?.value[1]).not.toBe('1');
    const m = await rw();
    expect(m.sent).toBeGreaterThan(sentBefore);
    expect(m.queued).toBeLessThanOrEqual(MAX_QUEUED);
    expect(m.failed).toBe(0);
  }, 60_000);
});
