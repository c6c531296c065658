import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SimClock } from '../../../controller/clock.js';
import { Core } from '../../../controller/core.js';
import { createMetrics } from '../../../controller/metrics.js';
import { loadRules } from '../../../controller/rules/load.js';
import { CONTROLLER_HOST, SELF_INTERVAL_MS } from '../../../controller/self-rules.js';
import { MemoryStore } from '../../../controller/store/memory.js';
import { silentLogger } from '../../../protocol/index.js';

const dir = mkdtempSync(join(tmpdir(), 'laas-self-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('rules with "scope": "controller"', () => {
  it('judge the controller’s own metrics on the sweep: a failed store write raises laas/store-errors on host "controller", which resolves 5 minutes later', async () => {
    const clock = new SimClock(1_000_000);
    const metrics = createMetrics();
    const store = new MemoryStore();
    const core = await Core.create({
      store,
      metrics,
      log: silentLogger,
      clock,
      receivers: new Set(),
      send: () => true,
      requestSample: () => undefined,
      deliver: () => undefined,
      hostDownAfterMs: 30_000,
      externalUrl: () => 'http://laas.test',
    });
    // The shipped laas/ rules, read from real metrics (no facts given to the core).
    const { rules: all, errors } = loadRules(['rules']);
    const rules = all.filter((r) => r.namespace === 'laas');
    expect(errors).toEqual([]);
    core.setRules(rules);
    const step = async (ms: number) => {
      await clock.advanceTo(clock.now() + ms);
      await core.sweep();
    };
    await step(SELF_INTERVAL_MS);
    expect(core.alerting.get('laas/store-errors', CONTROLLER_HOST)).toBeUndefined();
    metrics.storeWriteErrors.inc();
    await step(SELF_INTERVAL_MS);
    const alert = core.alerting.get('laas/store-errors', CONTROLLER_HOST);
    expect(alert).toMatchObject({ state: 'firing', severity: 'critical', summary: 'store writes failing: 1 in the last 5 minutes, 1 since start' });
    // Judged at most every SELF_INTERVAL_MS, and only once the failure is 5 minutes old does it resolve.
    for (let t = 0; t < 280_000; t += SELF_INTERVAL_MS) await step(SELF_INTERVAL_MS);
    expect(core.alerting.get('laas/store-errors', CONTROLLER_HOST)?.state).toBe('firing');
    for (let t = 0; t < 30_000; t += SELF_INTERVAL_MS) await step(SELF_INTERVAL_MS);
    expect(core.alerting.get('laas/store-errors', CONTROLLER_HOST)).toBeUndefined();
    const stored = (await store.listAlerts()).filter((a) => a.rule === 'laas/store-errors');
    expect(stored).toMatchObject([{ host: CONTROLLER_HOST, state: 'resolved' }]);
    expect(Date.parse(stored[0].endsAt!) - Date.parse(stored[0].firedAt!)).toBeGreaterThanOrEqual(290_000);
    expect(core.alerting.get('laas/notifications-failing', CONTROLLER_HOST)).toBeUndefined();
  });
});
