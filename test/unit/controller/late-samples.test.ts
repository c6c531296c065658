import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SimClock } from '../../../controller/clock.js';
import { createMetrics } from '../../../controller/metrics.js';
import { Core } from '../../../controller/core.js';
import { loadRules } from '../../../controller/rules/load.js';
import { MemoryStore } from '../../../controller/store/memory.js';
import { silentLogger, type Run, type Sample } from '../../../protocol/index.js';

const dir = mkdtempSync(join(tmpdir(), 'laas-late-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function setup(opts: { heal?: boolean; store?: MemoryStore; clock?: SimClock; sent?: Run[] } = {}) {
  mkdirSync(join(dir, 'ns'), { recursive: true });
  writeFileSync(
    join(dir, 'ns', 'svc-down.json'),
    JSON.stringify({
      name: 'svc-down',
      when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] },
      ...(opts.heal ? { heal: { action: 'service.restart', params: { service: 'svc' } } } : {}),
    }),
  );
  const clock = opts.clock ?? new SimClock(1_000_000);
  const metrics = createMetrics();
  const core = await Core.create({
    store: opts.store ?? new MemoryStore(),
    metrics,
    log: silentLogger,
    clock,
    receivers: new Set(),
    send: (_h, run) => {
      opts.sent?.push(run);
      return true;
    },
    requestSample: () => undefined,
    deliver: () => undefined,
    hostDownAfterMs: 3_000,
    externalUrl: () => 'http://laas.test',
  });
  core.setRules(loadRules([dir]).rules);
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
  const sample = (up: boolean, ts: number, buffered = false): Sample => ({
    seq: seq++,
    ts,
    trigger: 'interval',
    service: { svc: { up, since: ts } },
    ...(buffered ? { buffered: true as const } : {}),
  });
  const late = async (reason: string) => (await metrics.samplesLate.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
  const svcAlert = () => core.alerting.list().find((a) => a.rule === 'ns/svc-down');
  return { clock, core, sample, late, svcAlert };
}

describe('samples that tell the past', () => {
  it('buffered and out-of-order samples are counted but move no alert; fresh ones do', async () => {
    const { clock, core, sample, late, svcAlert } = await setup();
    const t0 = clock.now();
    await core.sample('h1', sample(false, t0));
    expect(svcAlert()?.state).toBe('firing');
    // A backlog from an outage says the service was up a while ago: that is not news.
    await core.sample('h1', sample(true, t0 + 10, true));
    expect(svcAlert()?.state).toBe('firing');
    expect(await late('buffered')).toBe(1);
    await core.sample('h1', sample(true, t0 + 20));
    expect(svcAlert()?.state ?? 'resolved').toBe('resolved');
    // Older than the newest seen (on the agent's clock): kept out too.
    await core.sample('h1', sample(false, t0 + 15));
    expect(core.alerting.list().filter((a) => a.rule === 'ns/svc-down' && a.state === 'firing')).toEqual([]);
    expect(await late('out-of-order')).toBe(1);
  });

  it('a late sample is still a sign of life: host-down resolves on it', async () => {
    const { clock, core, sample } = await setup();
    for (let i = 0; i < 5; i++) {
      await clock.advanceTo(clock.now() + 1000);
      await core.sweep();
    }
    expect(core.alerting.list().find((a) => a.rule.endsWith('host-down'))?.state).toBe('firing');
    await core.sample('h1', sample(true, clock.now() - 4000, true));
    expect(core.alerting.list().find((a) => a.rule.endsWith('host-down'))?.state ?? 'resolved').toBe('resolved');
  });

  it('a controller that stalled does not count its own silence against hosts', async () => {
    const { clock, core, sample } = await setup();
    await core.sample('h1', sample(true, clock.now()));
    await core.sweep();
    // Ten seconds without a sweep (SIGSTOP): past hostDownAfter (3 s), but the controller was not listening.
    await clock.advanceTo(clock.now() + 10_000);
    await core.sweep();
    expect(core.alerting.list().filter((a) => a.rule.endsWith('host-down'))).toEqual([]);
    // From the wake the host gets its whole deadline (3 s) again — its frames and reconnect were
    // queued while the controller slept — and no more than that.
    const woke = clock.now();
    for (let i = 0; i < 29; i++) {
      await clock.advanceTo(clock.now() + 100);
      await core.sweep();
    }
    expect(clock.now() - woke).toBe(2900);
    expect(core.alerting.list().filter((a) => a.rule.endsWith('host-down'))).toEqual([]);
    await clock.advanceTo(woke + 3000);
    await core.sweep();
    expect(core.alerting.list().find((a) => a.rule.endsWith('host-down'))?.state).toBe('firing');
  });

  it('after a controller restart, the first fresh sample still sees a held condition clear (and verifies the heal)', async () => {
    const store = new MemoryStore();
    const clock = new SimClock(1_000_000);
    const sent: Run[] = [];
    const before = await setup({ heal: true, store, clock, sent });
    await before.core.sample('h1', before.sample(false, clock.now()));
    expect(sent).toHaveLength(1);
    await before.core.ack('h1', sent[0].id);
    // The controller restarts; meanwhile the service came back (the agent's backlog says so, late).
    const after = await setup({ heal: true, store, clock });
    await after.core.hello({
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
    await after.core.sample('h1', after.sample(true, clock.now() + 10, true));
    await after.core.result('h1', {
      id: sent[0].id,
      action: 'service.restart',
      outcome: 'succeeded',
      exitCode: 0,
      signal: null,
      stdout: '',
      stderr: '',
      truncated: false,
      startedAt: clock.now(),
      durationMs: 5,
    });
    await after.core.sample('h1', after.sample(true, clock.now() + 20));
    const order = (await store.listHeals())[0];
    expect(order.state).toBe('succeeded');
  });
});
