import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../controller/metrics.js';
import type { HostRecord } from '../../../controller/model.js';
import { factsOf } from '../../../controller/rules/evaluate.js';
import { ControllerFactsReader } from '../../../controller/self-facts.js';
import { compareVersions, LAAS_VERSION } from '../../../protocol/index.js';

const host = (id: string, agentVersion: string, connected = true): HostRecord => ({
  id,
  hostname: id,
  labels: {},
  os: { platform: 'linux', release: 'test' },
  agentVersion,
  services: [],
  actions: [],
  connected,
  up: connected,
  firstSeen: '2026-01-01T00:00:00.000Z',
  lastSeen: '2026-01-01T00:00:00.000Z',
  intervalMs: 10_000,
});

describe('compareVersions', () => {
  it.each([
    ['0.1.0', '0.1.0', 0],
    ['0.0.9', '0.1.0', -1],
    ['1.2.10', '1.2.9', 1],
    ['1.2', '1.2.0', 0],
    ['1.3.0-rc.1', '1.3.0', -1],
    ['1.3.0', '1.3.0-rc.1', 1],
    ['2.0.0', '10.0.0', -1],
  ])('%s against %s', (a, b, sign) => {
    expect(Math.sign(compareVersions(a, b))).toBe(sign);
  });
});

describe('the host fact', () => {
  it('says whether the agent is older than the controller', () => {
    const older = factsOf({ id: 'a', labels: {}, agentVersion: '0.0.1' }, { seq: 0, ts: 0, trigger: 'interval' }).host;
    const same = factsOf({ id: 'b', labels: {}, agentVersion: LAAS_VERSION }, { seq: 0, ts: 0, trigger: 'interval' }).host;
    expect(older).toMatchObject({ agentVersion: '0.0.1', agentBehind: true, up: true });
    expect(same).toMatchObject({ agentVersion: LAAS_VERSION, agentBehind: false });
  });
});

describe('ControllerFactsReader', () => {
  const zero = { total: 0, last5m: 0, last15m: 0, lastHour: 0 };

  it('says what each counter grew by over the last 5 minutes, 15 minutes and hour, from the process start on', async () => {
    const metrics = createMetrics();
    const reader = new ControllerFactsReader(metrics, () => [], 0);
    expect((await reader.read(10_000)).heals).toEqual({ finished: zero, failed: zero, failureRatioLastHour: 0 });
    // Before the first read: still counted, against the start (every counter is 0 then).
    metrics.healActions.inc({ rule: 'r', action: 'service.restart', outcome: 'succeeded' }, 2);
    metrics.healActions.inc({ rule: 'r', action: 'service.restart', outcome: 'failed' });
    expect((await reader.read(20_000)).heals).toEqual({
      finished: { total: 3, last5m: 3, last15m: 3, lastHour: 3 },
      failed: { total: 1, last5m: 1, last15m: 1, lastHour: 1 },
      failureRatioLastHour: 0.333,
    });
    // Ten minutes on, one more failure: the first three have left the 5-minute span only.
    metrics.healActions.inc({ rule: 'r', action: 'script.run', outcome: 'failed' });
    expect((await reader.read(620_000)).heals).toEqual({
      finished: { total: 4, last5m: 1, last15m: 4, lastHour: 4 },
      failed: { total: 2, last5m: 1, last15m: 2, lastHour: 2 },
      failureRatioLastHour: 0.5,
    });
    // An hour after the read that saw the first three, they have left the hour; the fourth has not.
    expect((await reader.read(3_620_000)).heals).toEqual({
      finished: { total: 4, last5m: 0, last15m: 0, lastHour: 1 },
      failed: { total: 2, last5m: 0, last15m: 0, lastHour: 1 },
      failureRatioLastHour: 1,
    });
  });

  it('reads notifications, store errors, refused rule reloads and hosts from the metrics and the registry', async () => {
    const metrics = createMetrics();
    const hosts = [host('a', LAAS_VERSION), host('b', '0.0.9'), host('c', '0.0.9', false)];
    const reader = new ControllerFactsReader(metrics, () => hosts, 0);
    metrics.notifyAttempts.inc({ receiver: 'ops', outcome: 'sent' }, 5);
    metrics.notifyAttempts.inc({ receiver: 'ops', outcome: 'failed' }, 2);
    metrics.notifyAttempts.inc({ receiver: 'chat', outcome: 'failed' });
    metrics.storeWriteErrors.inc();
    metrics.rulesReloads.inc({ outcome: 'ok' });
    metrics.rulesReloads.inc({ outcome: 'failed' });
    const f = await reader.read(1000);
    expect(f).toMatchObject({
      version: LAAS_VERSION,
      hosts: { total: 3, up: 2, down: 1, agentsBehind: 2 },
      notifications: { sent: { total: 5, last5m: 5 }, failed: { total: 3, last15m: 3 } },
      store: { writeErrors: { total: 1, lastHour: 1 } },
      rules: { reloadsFailed: { total: 1, last5m: 1 } },
    });
  });
});
