/**
 * Fault to first page, and recovery to resolved notice, at default settings — laas beside a
 * real Alertmanager at its defaults (group_wait 30s, group_interval 5m), in one run.
 *
 * laas: a controller and an agent (child processes), a demo service probed every 1 s, a rule
 * that notifies a local webhook receiver. Each run kills the service (→ time to the firing
 * page) and starts it again (→ time to the resolved notice).
 * Alertmanager (Debian package): alerts posted straight to its API (as Prometheus would, with
 * no scrape or rule-evaluation delay counted), one new group per run, all runs in parallel.
 *
 *   npm run build && node dist/bench/notify-latency.js [--runs 10] [--am-runs 5] [--skip-am]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Fleet } from '../test/helpers/fleet.js';
import { freePort, laasRun, stopAll, waitFor } from '../test/helpers/procs.js';
import { startReceiver } from '../test/helpers/receiver.js';

interface Payload {
  status: string;
  alerts: { status: string; labels: Record<string, string> }[];
}

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
};
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { n: s.length, min: s[0], median, max: s[s.length - 1] };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function laasLatency(runs: number) {
  const fleet = new Fleet();
  const receiver = await startReceiver();
  try {
    const svc = await fleet.service('svc');
    // Ten kills in a few minutes would be flapping (held firing, by design); measure plain paging.
    fleet.rule('bench', 'svc-down', {
      when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] },
      notify: ['ops'],
      flap: { changes: 1000 },
    });
    await fleet.startController({ receivers: { ops: { type: 'webhook', url: receiver.url } } });
    fleet.startAgent('n1', { services: [{ name: 'svc', probe: { tcp: `127.0.0.1:${svc.port}` }, probeInterval: '1s' }] });
    await waitFor('agent', async () => (await fleet.api<{ connected: boolean }[]>('/api/v1/hosts')).some((h) => h.connected));
    const fire: number[] = [];
    const resolve: number[] = [];
    const count = (status: string) => receiver.received.filter((r) => (r.body as Payload).status === status).length;
    for (let i = 0; i < runs; i++) {
      await sleep(300 + Math.random() * 1000);
      const firing = count('firing');
      process.kill(svc.pid(), 'SIGKILL');
      const killed = Date.now();
      await waitFor('firing page', () => count('firing') > firing, 20_000, 5);
      fire.push(Date.now() - killed);
      await sleep(300 + Math.random() * 1000);
      const resolved = count('resolved');
      const r = await laasRun(svc.restart.slice(2));
      if (r.code !== 0) throw new Error(r.stderr);
      const back = Date.now();
      await waitFor('resolved notice', () => count('resolved') > resolved, 20_000, 5);
      resolve.push(Date.now() - back);
      process.stderr.write(`laas run ${i + 1}: page ${fire.at(-1)} ms, resolved notice ${resolve.at(-1)} ms\n`);
    }
    return { faultToPageMs: stats(fire), recoveryToResolvedMs: stats(resolve), samples: { fire, resolve } };
  } finally {
    await stopAll();
    await receiver.close();
    await fleet.cleanup();
  }
}

async function alertmanagerLatency(runs: number) {
  const bin = process.env.ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';
  if (!existsSync(bin)) return { skipped: `${bin} not found (apt-get install prometheus-alertmanager)` };
  const dir = mkdtempSync(join(tmpdir(), 'am-bench-'));
  const receiver = await startReceiver();
  const port = await freePort();
  // Alertmanager's defaults: group_wait 30s, group_interval 5m.
  writeFileSync(
    join(dir, 'am.yml'),
    `route:\n  receiver: hook\n  group_by: [alertname]\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: ${receiver.url}\n        send_resolved: true\n`,
  );
  const am = spawn(
    bin,
    [`--config.file=${join(dir, 'am.yml')}`, `--storage.path=${dir}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address='],
    { stdio: 'ignore' },
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor('alertmanager ready', async () => (await fetch(`${url}/-/ready`)).ok, 20_000);
    const post = (alerts: unknown[]) =>
      fetch(`${url}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts) });
    const names = Array.from({ length: runs }, (_, i) => `bench${i}`);
    const started = Date.now();
    await post(names.map((n) => ({ labels: { alertname: n }, startsAt: new Date().toISOString() })));
    const seen = (status: string) =>
      new Map(
        receiver.received.flatMap((r) =>
          (r.body as Payload).status === status ? (r.body as Payload).alerts.map((a) => [a.labels.alertname, r.at] as const) : [],
        ),
      );
    await waitFor('every firing group', () => seen('firing').size === runs, 120_000, 20);
    const fire = names.map((n) => seen('firing').get(n)! - started);
    process.stderr.write(`alertmanager: pages after ${fire.join(', ')} ms; resolving (group_interval 5m)…\n`);
    const resolvedAt = Date.now();
    await post(names.map((n) => ({ labels: { alertname: n }, startsAt: new Date(started).toISOString(), endsAt: new Date().toISOString() })));
    await waitFor('every resolved notice', () => seen('resolved').size === runs, 420_000, 100);
    const resolve = names.map((n) => seen('resolved').get(n)! - resolvedAt);
    return {
      faultToPageMs: stats(fire),
      recoveryToResolvedMs: stats(resolve),
      note: 'alerts posted to the API directly: no scrape or evaluation delay counted',
    };
  } finally {
    am.kill('SIGKILL');
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const runs = Number(arg('runs', '10'));
  const out = arg('out', 'bench/results/notify-latency.json');
  const [laas, am] = await Promise.all([
    laasLatency(runs),
    process.argv.includes('--skip-am') ? Promise.resolve({ skipped: '--skip-am' }) : alertmanagerLatency(Number(arg('am-runs', '5'))),
  ]);
  const result = { bench: 'notify-latency', date: new Date().toISOString(), laas, alertmanager: am };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  const f = (s: { median: number; max: number }) => `median ${s.median} ms, worst ${s.max} ms`;
  console.log(`laas (defaults, probe 1s): fault→page ${f(laas.faultToPageMs)}; recovery→resolved notice ${f(laas.recoveryToResolvedMs)}`);
  if ('faultToPageMs' in am && am.faultToPageMs)
    console.log(`alertmanager (defaults): alert→page ${f(am.faultToPageMs)}; resolve→resolved notice ${f(am.recoveryToResolvedMs)}`);
  else console.log(`alertmanager: skipped (${am.skipped})`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
