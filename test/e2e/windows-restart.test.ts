import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_TOKEN, Fleet } from '../helpers/fleet.js';
import { freePort, stopAll, waitFor } from '../helpers/procs.js';
import { HAVE_PROMETHEUS, PROMETHEUS, startPrometheus } from '../helpers/prometheus.js';
import { SimAgent } from '../helpers/sim-agent.js';

const PROMTOOL = process.env.LAAS_PROMTOOL_BIN ?? '/usr/bin/promtool';

if (!HAVE_PROMETHEUS && !process.env.CI) {
  console.warn(`[windows-restart] skipped: no Prometheus at ${PROMETHEUS} (install it with "apt-get install -y prometheus"; CI must have it)`);
}

interface Alert {
  rule: string;
  host: string;
  state: string;
}

const cpu = (usage: number) => ({ cpu: { usage, load1: 1, load5: 1, load15: 1 } });
const memory = (usedPercent: number) => ({ memory: { usedPercent, availableBytes: 1e9, totalBytes: 2e9, swapUsedPercent: 0, swapUsedBytes: 0 } });

/**
 * Windowed rules after a controller restart, with real processes: a window is "not enough data"
 * until it has been watched for its whole length, so a controller that forgot its windows would
 * be blind to every `over` rule for that long after each restart. Two ways back, both checked on
 * the controller's own count of judgements made without enough data (per rule, reset at start):
 * - Prometheus (controller.json "history"): h-prom's cpu was 95 % for the last half hour in a
 *   real Prometheus (backfilled by promtool); its first sample after start fires the 10-minute
 *   average at once, while h-new, which Prometheus never saw, is not enough data;
 * - the snapshot the controller writes when it stops: h-snap's 30-second memory window, watched
 *   before a restart, judges at once after it, while h-late's, begun after it, cannot.
 */
describe.skipIf(!HAVE_PROMETHEUS && !process.env.CI)('windows across a controller restart', () => {
  const fleet = new Fleet();
  const sims: SimAgent[] = [];
  let prom: Awaited<ReturnType<typeof startPrometheus>> | undefined;

  const sim = async (id: string) => {
    const s = new SimAgent(fleet.url, AGENT_TOKEN, id, { role: 'sim' }, 1000);
    s.reconnect = { minMs: 100, maxMs: 500 };
    sims.push(s);
    await s.connect();
    return s;
  };
  const metric = async (name: string): Promise<number> => {
    const text = await (await fleet.fetch('/metrics')).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return line ? Number(line.split(' ').pop()) : 0;
  };
  const notEnoughData = (rule: string) => metric(`laas_rules_not_enough_data_total{rule="${rule}"}`);
  const firing = async (rule: string, host: string) =>
    (await fleet.api<Alert[]>('/api/v1/alerts?state=firing')).some((a) => a.rule === rule && a.host === host);
  /** Sends one sample and waits until the controller has made its decisions on it (it counts each one). */
  const judged = async (s: SimAgent, facts: Record<string, unknown>) => {
    const before = await metric('laas_controller_sample_decision_seconds_count');
    s.sample('interval', facts);
    await waitFor(`${s.id}'s sample judged`, async () => (await metric('laas_controller_sample_decision_seconds_count')) > before, 10_000, 50);
  };

  beforeAll(async () => {
    if (!HAVE_PROMETHEUS) throw new Error(`no Prometheus at ${PROMETHEUS}: add the Debian package "prometheus" to .ci/run's apt-get line`);
    // h-prom's cpu every 15 s over the last 30 minutes, up to a minute ago.
    const now = Math.floor(Date.now() / 1000);
    const lines = ['# TYPE laas_host_cpu_usage_percent gauge'];
    for (let t = now - 1800; t <= now - 60; t += 15) lines.push(`laas_host_cpu_usage_percent{host="h-prom"} 95 ${t}`);
    lines.push('# EOF');
    writeFileSync(join(fleet.dir, 'history.om'), `${lines.join('\n')}\n`);
    mkdirSync(join(fleet.dir, 'prom'));
    execFileSync(PROMTOOL, ['tsdb', 'create-blocks-from', 'openmetrics', join(fleet.dir, 'history.om'), join(fleet.dir, 'prom', 'data')], { stdio: 'pipe' });
    prom = await startPrometheus(await freePort(), join(fleet.dir, 'prom'));

    fleet.rule('e2e', 'cpu-avg', {
      when: { all: [{ fact: 'cpu', path: '$.usage', over: '10m', fn: 'avg', operator: 'greaterThan', value: 90 }] },
      severity: 'warning',
      summary: 'cpu busy on {{host}}',
    });
    fleet.rule('e2e', 'mem-avg', {
      when: { all: [{ fact: 'memory', path: '$.usedPercent', over: '30s', fn: 'avg', operator: 'greaterThan', value: 90 }] },
      severity: 'warning',
      summary: 'memory full on {{host}}',
    });
    await fleet.startController({ history: { prometheus: prom.url } });
  }, 90_000);

  afterAll(async () => {
    for (const s of sims) s.stop();
    await stopAll();
    await prom?.stop();
    await fleet.cleanup();
  });

  it('rebuilds a window from Prometheus at start: the first sample is judged on half an hour of history', async () => {
    expect(fleet.controller!.stderr()).toMatch(/"series":1,"points":41,"msg":"windows rebuilt from Prometheus"/);
    const hProm = await sim('h-prom');
    await judged(hProm, cpu(95));
    await waitFor('e2e/cpu-avg firing on h-prom', () => firing('e2e/cpu-avg', 'h-prom'), 10_000, 50);
    expect(await notEnoughData('e2e/cpu-avg')).toBe(0);

    // The control: the same sample from a host Prometheus never saw is not enough data, and no alert.
    const hNew = await sim('h-new');
    await judged(hNew, cpu(95));
    expect(await notEnoughData('e2e/cpu-avg')).toBe(1);
    expect(await firing('e2e/cpu-avg', 'h-new')).toBe(false);
  }, 40_000);

  it('keeps the windows it watched across a restart (the snapshot its stop writes)', async () => {
    const hSnap = await sim('h-snap');
    // 33 s of samples, one a second: the 30 s window is full before the restart.
    const first = Date.now();
    for (let i = 1; Date.now() - first < 33_000 && i < 60; i++) {
      await judged(hSnap, memory(50));
      await new Promise((r) => setTimeout(r, 1000));
    }
    await fleet.controller!.stop();
    expect(existsSync(join(fleet.dataDir, 'windows.bin'))).toBe(true);
    // Restarted without "history": what it knows of windows now comes from the snapshot alone.
    await fleet.startController();
    expect(fleet.controller!.stderr()).toMatch(/"msg":"windows restored from the last stop"/);
    await waitFor(
      'h-snap reconnected',
      async () => (await fleet.api<{ id: string; connected: boolean }[]>('/api/v1/hosts')).some((h) => h.id === 'h-snap' && h.connected),
      20_000,
      100,
    );
    await judged(hSnap, memory(50));
    expect(await notEnoughData('e2e/mem-avg')).toBe(0);

    // The control: a host whose window began after the restart has not enough data yet.
    const hLate = await sim('h-late');
    await judged(hLate, memory(50));
    expect(await notEnoughData('e2e/mem-avg')).toBe(1);
  }, 90_000);
});
