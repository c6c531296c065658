import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * The short modes of bench/fault-to-fix.ts and bench/agent-footprint.ts, so neither can rot:
 * each runs for real (controller, agent, Monit, Prometheus, Alertmanager, node_exporter as
 * child processes) and its JSON must hold every figure. Anchors are required under CI;
 * elsewhere a missing one is reported and its figures are not checked.
 */
const anchors = {
  monit: ['/usr/bin/monit', '/usr/sbin/monit'],
  prometheus: ['/usr/bin/prometheus'],
  alertmanager: ['/usr/bin/prometheus-alertmanager'],
  nodeExporter: ['/usr/bin/prometheus-node-exporter'],
};
const have = (k: keyof typeof anchors) => anchors[k].some((p) => existsSync(p));
const missing = (Object.keys(anchors) as (keyof typeof anchors)[]).filter((k) => !have(k));
if (missing.length > 0) {
  if (process.env.CI) throw new Error(`CI needs the anchors (bench/anchors/install.sh): missing ${missing.join(', ')}`);
  console.warn(`anchors-bench: not checking the figures of missing anchors: ${missing.join(', ')} (sudo bench/anchors/install.sh)`);
}

async function runBench(script: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
  try {
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    return { code, out };
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

interface Stats {
  n: number;
  min: number;
  median: number;
  p99: number;
  max: number;
}
const sane = (s: Stats | undefined, n: number) => {
  expect(s).toBeDefined();
  expect(s!.n).toBe(n);
  expect(s!.min).toBeGreaterThan(0);
  expect(s!.median).toBeGreaterThanOrEqual(s!.min);
  expect(s!.max).toBeGreaterThanOrEqual(s!.p99);
  expect(s!.max).toBeLessThan(60_000);
};

describe('fault-to-fix bench, short mode', () => {
  it('two trials: laas answering, dispatch and notification figures, Monit and Prometheus beside them', async () => {
    const out = `reports/fault-to-fix-short-${process.pid}.json`;
    const r = await runBench('dist/bench/fault-to-fix.js', ['--trials', '2', '--out', out], 280_000);
    expect(r.code, r.out).toBe(0);
    const j = JSON.parse(readFileSync(out, 'utf8')) as { trials: number; figures: Record<string, Record<string, Stats>>; targets: Record<string, unknown> };
    rmSync(out, { force: true });
    expect(j.trials).toBe(2);
    for (const k of ['killToAnsweringMs', 'killToDispatchMs', 'killToNotificationMs', 'startProgramMs']) sane(j.figures.laas[k], 2);
    sane(j.figures.startProgramAlone?.killToAnsweringMs, 2);
    for (const m of ['laas_pidfileWatch', 'laas_httpWatch', 'laas_tcpPolling1s']) sane(j.figures[m]?.killToAnsweringMs, 2);
    // Dispatch comes before answering again: the restart is what makes it answer.
    expect(j.figures.laas.killToDispatchMs.min).toBeLessThan(j.figures.laas.killToAnsweringMs.max);
    if (have('monit')) {
      sane(j.figures.monitDaemon1?.killToAnsweringMs, 2);
      sane(j.figures.monitDaemon1Port?.killToAnsweringMs, 2);
    }
    if (have('prometheus') && have('alertmanager')) sane(j.figures.prometheusAlertmanager?.killToNotificationMs, 2);
    expect(Object.keys(j.targets)).toEqual(['answeringMedianAtMostHalfOfMonit', 'dispatchP99Under1s', 'notificationP99Under1s']);
  }, 300_000);
});

describe('agent footprint bench, short mode', () => {
  it('measures the agent, node_exporter and Monit side by side', async () => {
    const out = `reports/agent-footprint-short-${process.pid}.json`;
    const r = await runBench('dist/bench/agent-footprint.js', ['--agent', 'dist', '--seconds', '8', '--warmup', '2', '--out', out], 150_000);
    expect(r.code, r.out).toBe(0);
    const j = JSON.parse(readFileSync(out, 'utf8')) as {
      processes: Record<string, { rssMiB: { max: number; peakHWM: number }; cpuPercentOfOneCore: number; cpuSeconds: number }>;
      agents: Record<string, { collections: number; collectionStallMaxMs: number | null }>;
    };
    rmSync(out, { force: true });
    const agent = j.processes['laas-agent (installed)'];
    expect(agent.rssMiB.max).toBeGreaterThan(10);
    // The kernel folds per-thread RSS counts into VmHWM lazily, so the peak may trail the sampled
    // VmRSS by a few pages: within 1 MiB.
    expect(agent.rssMiB.peakHWM).toBeGreaterThan(0);
    expect(agent.rssMiB.peakHWM).toBeGreaterThanOrEqual(agent.rssMiB.max - 1);
    expect(agent.cpuSeconds).toBeGreaterThan(0);
    // The start-up collection and at least one at the 10 s interval, each with its stall measured.
    expect(j.agents.installed.collections).toBeGreaterThanOrEqual(1);
    expect(j.agents.installed.collectionStallMaxMs).toBeGreaterThanOrEqual(0);
    if (have('nodeExporter')) expect(j.processes.node_exporter.rssMiB.max).toBeGreaterThan(1);
    if (have('monit')) expect(j.processes['monit (daemon 1)'].rssMiB.max).toBeGreaterThan(1);
  }, 180_000);
});
