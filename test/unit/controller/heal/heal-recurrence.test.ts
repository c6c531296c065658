import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SimClock } from '../../../../controller/clock.js';
import { createMetrics } from '../../../../controller/metrics.js';
import type { Notification } from '../../../../controller/notify/index.js';
import { Core } from '../../../../controller/core.js';
import { loadRules } from '../../../../controller/rules/load.js';
import { MemoryStore } from '../../../../controller/store/memory.js';
import { silentLogger, type Run, type Sample } from '../../../../protocol/index.js';

/**
 * A fault that comes back while its alert is still held firing (keepFiringFor, flap damping) is
 * a new occurrence: it is healed through the brakes, or a work order says why not — never silence.
 */
const dir = mkdtempSync(join(tmpdir(), 'laas-recur-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function setup(rule: Record<string, unknown>, opts: { store?: MemoryStore; clock?: SimClock } = {}) {
  const rulesDir = join(dir, `r${Math.random().toString(36).slice(2)}`);
  mkdirSync(join(rulesDir, 'ns'), { recursive: true });
  writeFileSync(
    join(rulesDir, 'ns', 'svc-down.json'),
    JSON.stringify({
      name: 'svc-down',
      when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] },
      notify: ['ops'],
      heal: { action: 'service.restart', params: { service: 'svc' }, maxPerHour: 10 },
      ...rule,
    }),
  );
  const clock = opts.clock ?? new SimClock(1_000_000);
  const store = opts.store ?? new MemoryStore();
  const sent: Run[] = [];
  const notices: Notification[] = [];
  const core = await Core.create({
    store,
    metrics: createMetrics(),
    log: silentLogger,
    clock,
    receivers: new Set(['ops']),
    send: (_h, run) => {
      sent.push(run);
      return true;
    },
    requestSample: () => undefined,
    deliver: (n) => notices.push(n),
    hostDownAfterMs: 60_000,
    externalUrl: () => 'http://laas.test',
  });
  const loaded = loadRules([rulesDir], { receivers: new Set(['ops']) });
  expect(loaded.errors).toEqual([]);
  core.setRules(loaded.rules);
  await core.hello({
    agentId: 'h1',
    agentVersion: 't',
    hostname: 'h1',
    labels: {},
    os: { platform: 'linux', release: 't' },
    intervalMs: 1000,
    services: ['svc'],
    actions: [],
    scripts: [],
  });
  let seq = 0;
  /** One fresh sample, one second after the last. */
  const sample = async (up: boolean) => {
    await clock.advanceTo(clock.now() + 1000);
    const s: Sample = { seq: seq++, ts: clock.now(), trigger: 'interval', service: { svc: { up, since: clock.now() } } };
    await core.sample('h1', s);
  };
  /** The agent reports the last instruction ran fine. */
  const succeed = async () => {
    const run = sent.at(-1)!;
    await core.result('h1', {
      id: run.id,
      action: run.action,
      outcome: 'succeeded',
      exitCode: 0,
      signal: null,
      stdout: '',
      stderr: '',
      truncated: false,
      startedAt: clock.now(),
      durationMs: 5,
    });
  };
  const alert = () => core.alerting.list().find((a) => a.rule === 'ns/svc-down');
  const heals = async () => (await store.listHeals()).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  return { clock, store, core, sample, succeed, sent, notices, alert, heals };
}

describe('a fault that returns while its alert is held firing', () => {
  it('with keepFiringFor: the second occurrence is healed again', async () => {
    const { sample, succeed, sent, alert, heals } = await setup({ keepFiringFor: '5m' });
    await sample(false);
    expect(sent).toHaveLength(1);
    await succeed();
    await sample(true); // cleared: the heal is verified, the alert is held firing for 5 minutes
    expect(alert()?.state).toBe('firing');
    expect((await heals()).map((h) => h.state)).toEqual(['succeeded']);
    await sample(false); // the same fault, back within keepFiringFor
    expect(sent).toHaveLength(2);
    expect(sent[1].action).toBe('service.restart');
    const orders = await heals();
    expect(orders.map((h) => h.state)).toEqual(['succeeded', 'dispatched']);
    expect(alert()?.heals).toEqual(orders.map((h) => h.id));
  });

  it('a condition that simply goes on holding is not a new occurrence', async () => {
    const { sample, sent, heals } = await setup({ keepFiringFor: '5m' });
    await sample(false);
    await sample(false);
    await sample(false);
    expect(sent).toHaveLength(1);
    expect(await heals()).toHaveLength(1);
  });

  it('while flapping: each return is recorded as skipped (flapping), nothing runs, and people are told', async () => {
    const { sample, succeed, sent, alert, heals, notices } = await setup({ flap: { window: '10m', changes: 3 } });
    // down, healed, up, down, healed, up: by then the condition changed often enough to flap.
    await sample(false);
    await succeed();
    await sample(true);
    await sample(false);
    await succeed();
    await sample(true);
    expect(alert()?.flapping).toBe(true);
    expect(alert()?.state).toBe('firing'); // flap damping holds it
    const ran = sent.length;
    await sample(false); // back again, while held firing and flapping
    expect(sent).toHaveLength(ran);
    const last = (await heals()).at(-1)!;
    expect(last.state).toBe('skipped');
    expect(last.brake).toBe('flapping');
    expect(last.reason).toMatch(/^flapping: the condition of ns\/svc-down on h1 changed 3 times or more within 600s/);
    expect(last.notifications.map((n) => n.kind)).toEqual(['flapping']);
    expect(alert()?.heals.at(-1)).toBe(last.id);
    const notice = notices.find((n) => n.alerts[0]?.labels.alertname === 'laas-heal-flapping');
    expect(notice).toMatchObject({ receiver: 'ops', status: 'firing' });
    expect(notice?.alerts[0].annotations.workOrder).toBe(last.id);
  });

  it('after a controller restart, a held alert whose fault returns is healed', async () => {
    const store = new MemoryStore();
    const clock = new SimClock(1_000_000);
    const before = await setup({ keepFiringFor: '10m' }, { store, clock });
    await before.sample(false);
    await before.succeed();
    await before.sample(true);
    expect(before.alert()?.clearedAt).not.toBeNull();
    before.core.close();
    // A new controller on the same store: the held alert is restored, the fault comes back.
    const after = await setup({ keepFiringFor: '10m' }, { store, clock });
    expect(after.alert()?.state).toBe('firing');
    await after.sample(false);
    expect(after.sent).toHaveLength(1);
    expect((await after.heals()).map((h) => h.state)).toEqual(['succeeded', 'dispatched']);
  });
});
