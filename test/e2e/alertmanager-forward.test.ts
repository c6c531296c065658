import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../controller/metrics.js';
import { Notifications } from '../../controller/notify/index.js';
import { silentLogger } from '../../protocol/index.js';
import { alertNotice, notification } from '../helpers/notices.js';
import { freePort, waitFor } from '../helpers/procs.js';

/** Debian's package; ALERTMANAGER_BIN points elsewhere (e.g. an upstream tarball's binary). */
const BIN = process.env.ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';
const HAVE = existsSync(BIN);
const SKIP = !HAVE && !process.env.CI;
if (SKIP)
  console.warn(
    `alertmanager-forward: skipped — ${BIN} is missing; install it with "apt-get install -y prometheus-alertmanager" (in CI, .ci/run does, and the test fails instead)`,
  );

interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  updatedAt: string;
  generatorURL: string;
  status: { state: string };
}

let am: ChildProcess | undefined;
let amLog = '';
let base = '';
let dir = '';

async function amAlerts(query = ''): Promise<AmAlert[]> {
  const res = await fetch(`${base}/api/v2/alerts${query}`);
  if (!res.ok) throw new Error(`GET /api/v2/alerts answered HTTP ${res.status}`);
  return (await res.json()) as AmAlert[];
}

const onHost =
  (host: string) =>
  async (query = '?active=true') =>
    (await amAlerts(query)).find((a) => a.labels.alertname === 'demo-down' && a.labels.host === host);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** In CI a missing binary fails each test (not just the file's set-up), so the report counts it. */
function requireAlertmanager(): void {
  if (!HAVE) throw new Error(`${BIN} is missing and CI is set: .ci/run must install the Debian package prometheus-alertmanager (or set ALERTMANAGER_BIN)`);
}

beforeAll(async () => {
  if (!HAVE) return;
  dir = mkdtempSync(join(tmpdir(), 'laas-am-'));
  writeFileSync(join(dir, 'alertmanager.yml'), 'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n');
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  am = spawn(
    BIN,
    [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  am.stdout!.on('data', (d: Buffer) => {
    amLog += d.toString();
  });
  am.stderr!.on('data', (d: Buffer) => {
    amLog += d.toString();
  });
  try {
    await waitFor(
      'Alertmanager /-/ready',
      async () => {
        if (am!.exitCode !== null) throw new Error(`alertmanager exited with ${am!.exitCode}`);
        return (await fetch(`${base}/-/ready`)).ok;
      },
      20_000,
      100,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}\nalertmanager log:\n${amLog}`, { cause: e });
  }
});

afterAll(async () => {
  if (am && am.exitCode === null && am.signalCode === null) {
    const exited = new Promise((r) => am!.once('exit', r));
    am.kill('SIGTERM');
    const t = setTimeout(() => am!.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('alertmanager notifier against a real Alertmanager', () => {
  it.skipIf(SKIP)(
    'forwards a firing alert, re-sends it while it fires, and resolves it once',
    async () => {
      requireAlertmanager();
      const notifications = new Notifications({
        receivers: { am: { type: 'alertmanager', url: base, resendInterval: '1s' } as { type: string } },
        log: silentLogger,
        metrics: createMetrics(),
        retryBaseMs: 100,
      });
      try {
        const startsAt = new Date(Date.now() - 60_000).toISOString();
        const alert = alertNotice({ host: 'web-1', startsAt });
        // A host label with a dot: Alertmanager takes Prometheus label names only.
        alert.labels = { ...alert.labels, 'team.name': 'web' };
        const sentAt = Date.now();
        notifications.send(notification([alert], { receiver: 'am' }));

        const first = await waitFor('the alert in Alertmanager', () => onHost('web-1')());
        expect(first.labels).toEqual({
          alertname: 'demo-down',
          rule: 'demo/demo-down',
          namespace: 'demo',
          host: 'web-1',
          severity: 'critical',
          team_name: 'web',
        });
        expect(first.annotations).toEqual({ summary: 'demo is down on web-1' });
        expect(first.generatorURL).toBe('http://laas.test/api/v1/alerts/a-web-1');
        expect(first.status.state).toBe('active');
        expect(Date.parse(first.startsAt)).toBe(Date.parse(startsAt));
        // endsAt = send time + 4 × resendInterval, so Alertmanager resolves it if laas goes quiet.
        expect(Date.parse(first.endsAt)).toBeGreaterThanOrEqual(sentAt + 4000 - 1000);
        expect(Date.parse(first.endsAt)).toBeLessThanOrEqual(Date.now() + 4000 + 1000);

        const resent = await waitFor(
          'a re-send',
          async () => {
            const a = await onHost('web-1')();
            return a && Date.parse(a.updatedAt) > Date.parse(first.updatedAt) && Date.parse(a.endsAt) > Date.parse(first.endsAt) ? a : undefined;
          },
          5000,
        );
        expect(Date.parse(resent.updatedAt) - Date.parse(first.updatedAt)).toBeGreaterThanOrEqual(500);

        // Past the first send's endsAt it is still active: only the re-sends keep it so.
        await sleep(Math.max(0, Date.parse(first.endsAt) + 500 - Date.now()));
        const still = await onHost('web-1')();
        expect(still?.status.state).toBe('active');
        expect(Date.parse(still!.endsAt)).toBeGreaterThan(Date.now());

        const endsAt = new Date().toISOString();
        notifications.send(notification([{ ...alert, status: 'resolved', endsAt }], { receiver: 'am' }));
        await waitFor('the alert to leave the active list', async () => (await onHost('web-1')()) === undefined, 5000);
        expect(await onHost('web-1')('')).toBeUndefined();
        // Forgotten: no later re-send brings it back.
        await sleep(2500);
        expect(await onHost('web-1')()).toBeUndefined();
      } finally {
        await notifications.close();
      }
    },
    60_000,
  );

  it.skipIf(SKIP)(
    'stops re-sending when notifications close',
    async () => {
      requireAlertmanager();
      const notifications = new Notifications({
        receivers: { am: { type: 'alertmanager', url: base, resendInterval: '1s' } as { type: string } },
        log: silentLogger,
        metrics: createMetrics(),
        retryBaseMs: 100,
      });
      notifications.send(notification([alertNotice({ host: 'web-2' })], { receiver: 'am' }));
      const first = await waitFor('web-2 in Alertmanager', () => onHost('web-2')());
      await waitFor(
        'a re-send of web-2',
        async () => {
          const a = await onHost('web-2')();
          return a && a.updatedAt !== first.updatedAt;
        },
        5000,
      );
      await notifications.close();
      const before = await onHost('web-2')();
      // Two resend intervals, well inside the last endsAt (4 intervals) so the alert is still listed.
      await sleep(2200);
      const after = await onHost('web-2')();
      expect(after?.updatedAt).toBe(before?.updatedAt);
    },
    30_000,
  );
});
