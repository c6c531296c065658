import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BacktestReport } from '../../controller/backtest/run.js';
import { freePort, laasRun } from '../helpers/procs.js';
import { HAVE_PROMETHEUS, PROMETHEUS, startPrometheus } from '../helpers/prometheus.js';

const PROMTOOL = process.env.LAAS_PROMTOOL_BIN ?? '/usr/bin/promtool';

if (!HAVE_PROMETHEUS && !process.env.CI) {
  console.warn(`[backtest] skipped: no Prometheus at ${PROMETHEUS} (install it with "apt-get install -y prometheus"; CI must have it)`);
}

it.runIf(process.env.CI)('CI has Prometheus and promtool for the backtest test', () => {
  expect(HAVE_PROMETHEUS, `no Prometheus at ${PROMETHEUS}: add the Debian package "prometheus" to .ci/run's apt-get line`).toBe(true);
});

const MIN = 60_000;

/**
 * Two hours of known history, one sample a minute from `base`, written as OpenMetrics and turned
 * into TSDB blocks by promtool (Prometheus' own backfill) before Prometheus starts, so the
 * backtest reads exactly this history back through query_range:
 * - h1: cpu usage 95 % from minute 60 to 80, else 10; h2: cpu 10 throughout;
 * - h2: service web down from minute 30 to 40 and from 50 to 55;
 * - n1 (node_exporter, instance n1:9100, two cores): load1 8 from minute 20 to 40, else 1.
 */
function history(base: number): string {
  const lines: string[] = [];
  const minutes = Array.from({ length: 121 }, (_, k) => k);
  const family = (name: string, series: [labels: string, value: (k: number) => number][]) => {
    lines.push(`# TYPE ${name} gauge`);
    for (const [labels, value] of series) for (const k of minutes) lines.push(`${name}{${labels}} ${value(k)} ${(base + k * MIN) / 1000}`);
  };
  family('laas_host_cpu_usage_percent', [
    ['host="h1"', (k) => (k >= 60 && k < 80 ? 95 : 10)],
    ['host="h2"', () => 10],
  ]);
  family('laas_host_service_up', [['host="h2",service="web"', (k) => ((k >= 30 && k < 40) || (k >= 50 && k < 55) ? 0 : 1)]]);
  family('node_load1', [['instance="n1:9100",job="node"', (k) => (k >= 20 && k < 40 ? 8 : 1)]]);
  lines.push('# TYPE node_cpu_seconds counter');
  for (const cpu of ['0', '1'])
    for (const k of minutes) lines.push(`node_cpu_seconds_total{cpu="${cpu}",instance="n1:9100",job="node",mode="idle"} ${k * 50} ${(base + k * MIN) / 1000}`);
  lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}

const RULES: Record<string, unknown> = {
  'cpu-hot': {
    name: 'cpu-hot',
    when: { all: [{ fact: 'cpu', path: '$.usage', operator: 'greaterThan', value: 90 }] },
    for: '5m',
    severity: 'warning',
    summary: 'cpu hot on {{host}}',
  },
  'cpu-avg': {
    name: 'cpu-avg',
    when: { all: [{ fact: 'cpu', path: '$.usage', over: '10m', fn: 'avg', operator: 'greaterThan', value: 50 }] },
    severity: 'info',
    summary: 'cpu busy on average on {{host}}',
  },
  'web-down': {
    name: 'web-down',
    when: { all: [{ fact: 'service', path: '$.web.up', operator: 'equal', value: false }] },
    severity: 'critical',
    summary: 'web down on {{host}}',
    heal: { action: 'service.restart', params: { service: 'web' }, maxPerHour: 1 },
  },
};
const LOAD_RULE = {
  name: 'load',
  when: { all: [{ fact: 'cpu', path: '$.load1PerCore', operator: 'greaterThan', value: 2 }] },
  for: '5m',
  severity: 'warning',
  summary: 'load per core high on {{host}}',
};

describe.skipIf(!HAVE_PROMETHEUS && !process.env.CI)('laas rules backtest against a real Prometheus', () => {
  let dir: string;
  let prom: Awaited<ReturnType<typeof startPrometheus>> | undefined;
  // Whole minutes, three hours back: inside Prometheus' retention, clear of its head block.
  const base = Math.floor((Date.now() - 3 * 3_600_000) / MIN) * MIN;
  const at = (minute: number) => new Date(base + minute * MIN).toISOString();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'laas-backtest-'));
    writeFileSync(join(dir, 'history.om'), history(base));
    mkdirSync(join(dir, 'prom'), { recursive: true });
    execFileSync(PROMTOOL, ['tsdb', 'create-blocks-from', 'openmetrics', join(dir, 'history.om'), join(dir, 'prom', 'data')], { stdio: 'pipe' });
    mkdirSync(join(dir, 'rules', 'bt'), { recursive: true });
    for (const [name, rule] of Object.entries(RULES)) writeFileSync(join(dir, 'rules', 'bt', `${name}.json`), JSON.stringify(rule));
    mkdirSync(join(dir, 'node-rules', 'bt'), { recursive: true });
    writeFileSync(join(dir, 'node-rules', 'bt', 'load.json'), JSON.stringify(LOAD_RULE));
    prom = await startPrometheus(await freePort(), join(dir, 'prom'));
  }, 60_000);

  afterAll(async () => {
    await prom?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const run = (rulesDir: string, extra: string[] = []) =>
    laasRun(['rules', 'backtest', join(dir, rulesDir), '--prometheus', prom!.url, '--from', String(base / 1000), '--to', at(120), '--step', '1m', ...extra]);

  it('replays the laas series: when each rule would have fired, for how long, and what its heals would have met', async () => {
    const out = await run('rules', ['--json']);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const report = JSON.parse(out.stdout) as BacktestReport;
    expect(report).toMatchObject({ from: at(0), to: at(120), step: '1m', source: 'laas', hosts: 2, unmapped: [] });
    const rule = (id: string) => report.rules.find((r) => r.rule === id)!;

    // A sample at each minute: over 90 from minute 60, held 5 minutes, cleared by minute 80's sample.
    expect(rule('bt/cpu-hot').alerts).toEqual([{ host: 'h1', firedAt: at(65), endsAt: at(80), firingMs: 15 * MIN }]);

    // The 10-minute average: full windows only, above 50 once more than half the window is hot.
    const avg = rule('bt/cpu-avg').alerts;
    expect(avg).toHaveLength(1);
    expect(avg[0].host).toBe('h1');
    expect(Date.parse(avg[0].firedAt)).toBeGreaterThan(base + 60 * MIN);
    expect(Date.parse(avg[0].firedAt)).toBeLessThanOrEqual(base + 70 * MIN);
    expect(Date.parse(avg[0].endsAt!)).toBeGreaterThan(base + 80 * MIN);
    expect(Date.parse(avg[0].endsAt!)).toBeLessThanOrEqual(base + 90 * MIN);

    // Down twice; the first restart goes out, the second meets maxPerHour (1) twenty minutes later.
    const web = rule('bt/web-down');
    expect(web.alerts.map((a) => [a.host, a.firedAt, a.endsAt])).toEqual([
      ['h2', at(30), at(40)],
      ['h2', at(50), at(55)],
    ]);
    expect(web.heals.map((h) => [h.host, h.at, h.action, h.state === 'skipped' ? `skipped by ${h.brake}` : 'went out'])).toEqual([
      ['h2', at(30), 'service.restart', 'went out'],
      ['h2', at(50), 'service.restart', 'skipped by max-per-hour'],
    ]);
    expect(web.healsBy).toEqual({ dispatched: 1, 'stopped by max-per-hour': 1 });
  });

  it('prints the same report for people', async () => {
    const out = await run('rules');
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(`bt/cpu-hot (enforce): would have fired 1× on 1 host, 15m in all`);
    expect(out.stdout).toContain(`  h1  ${at(65)} → ${at(80)}  15m`);
    expect(out.stdout).toContain('bt/web-down (enforce): would have fired 2× on 1 host, 15m in all');
    expect(out.stdout).toContain('work orders: 1 dispatched, 1 stopped by max-per-hour');
  });

  it("replays node_exporter's series under the host its instance names, load per core from the idle counters", async () => {
    const out = await run('node-rules', ['--source', 'node', '--json']);
    expect(out.stderr).toBe('');
    const report = JSON.parse(out.stdout) as BacktestReport;
    expect(report.hosts).toBe(1);
    // load1 8 on 2 cores is 4 per core from minute 20; held 5 minutes; 1 again at minute 40.
    expect(report.rules[0].alerts).toEqual([{ host: 'n1', firedAt: at(25), endsAt: at(40), firingMs: 15 * MIN }]);
  });

  it('says what is wrong with bad input and changes nothing', async () => {
    const unreachable = await laasRun(['rules', 'backtest', join(dir, 'rules'), '--prometheus', `http://127.0.0.1:${await freePort()}`, '--from', '-1h']);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/BACKTEST_PROMETHEUS: cannot reach Prometheus at http:\/\/127\.0\.0\.1:\d+/);

    const badTime = await run('rules', ['--to', 'yesterday-ish']);
    expect(badTime.code).toBe(1);
    expect(badTime.stderr).toContain('--to "yesterday-ish" is not a time');

    const tooMany = await laasRun(['rules', 'backtest', join(dir, 'rules'), '--prometheus', prom!.url, '--from', '-365d', '--step', '1s']);
    expect(tooMany.code).toBe(1);
    expect(tooMany.stderr).toContain('more than 200000');

    writeFileSync(join(dir, 'rules', 'bt', 'broken.json'), '{"name": "broken",');
    try {
      const broken = await run('rules');
      expect(broken.code).toBe(1);
      expect(broken.stderr).toContain('broken.json');
      expect(broken.stderr).toContain('the rules do not load');
    } finally {
      rmSync(join(dir, 'rules', 'bt', 'broken.json'));
    }
  });
});
