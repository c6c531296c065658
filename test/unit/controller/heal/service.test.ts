import { beforeEach, describe, expect, it } from 'vitest';
import { SimClock } from '../../../../controller/clock.js';
import { HealService, type NoticeKind } from '../../../../controller/heal/service.js';
import { createMetrics } from '../../../../controller/metrics.js';
import { ruleSchema, type Rule } from '../../../../controller/rules/schema.js';
import { MemoryStore } from '../../../../controller/store/memory.js';
import type { HealRecord } from '../../../../controller/model.js';
import { silentLogger, type Result, type Run } from '../../../../protocol/index.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');

function mkRule(heal: Record<string, unknown>, extra: Record<string, unknown> = {}): Rule {
  const file = ruleSchema.parse({
    name: 'svc-down',
    when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] },
    notify: ['ops'],
    heal: { action: 'service.restart', params: { service: 'svc' }, ...heal },
    ...extra,
  });
  return { ...file, id: 'web/svc-down', namespace: 'web', file: 'x.json', effectiveMode: file.mode ?? 'enforce' };
}

const ok = (run: Run, outcome: Result['outcome'] = 'succeeded'): Result => ({
  id: run.id,
  action: run.action,
  outcome,
  exitCode: outcome === 'succeeded' ? 0 : 1,
  signal: null,
  stdout: '',
  stderr: '',
  truncated: false,
  startedAt: T0,
  durationMs: 5,
});

describe('heal service', () => {
  let clock: SimClock;
  let store: MemoryStore;
  let sent: { host: string; run: Run }[];
  let samplesAsked: string[];
  let notices: { kind: NoticeKind; text: string; order: string }[];
  let offline: Set<string>;
  let hostCount: number;
  let n: number;
  let rule: Rule;

  const make = (fleetLimit?: number | string) => {
    const m = new HealService({
      store,
      metrics: createMetrics(),
      log: silentLogger,
      clock,
      send: (host, run) => {
        if (offline.has(host)) return false;
        sent.push({ host, run });
        return true;
      },
      requestSample: (h) => samplesAsked.push(h),
      notify: (order, kind, text) => {
        notices.push({ kind, text, order: order.id });
        return ['ops'];
      },
      hostsSelected: () => hostCount,
      fleetSize: () => hostCount,
      fleetLimit,
      newId: () => `w${++n}`,
    });
    m.setRules([rule]);
    return m;
  };
  const get = async (id: string) => (await store.getHeal(id))!;
  const advance = (ms: number) => clock.advanceTo(clock.now() + ms, () => new Promise((r) => setImmediate(r)));

  beforeEach(() => {
    clock = new SimClock(T0);
    store = new MemoryStore();
    sent = [];
    samplesAsked = [];
    notices = [];
    offline = new Set();
    hostCount = 1;
    n = 0;
    rule = mkRule({});
  });

  it('dispatches, verifies, and succeeds when the condition clears', async () => {
    const m = make();
    const order = (await m.request(rule, { host: 'h1', faultAt: T0 - 200 }))!;
    expect(sent).toEqual([
      { host: 'h1', run: { id: 'w1.0', host: 'h1', action: 'service.restart', params: { service: 'svc' }, timeoutMs: 60_000, deadline: T0 + 30_000 } },
    ]);
    await m.onAck('h1', 'w1.0');
    await advance(300);
    await m.onResult('h1', ok(sent[0].run));
    expect((await get(order.id)).verifyingUntil).toBe(new Date(T0 + 300 + 30_000).toISOString());
    expect(samplesAsked).toEqual(['h1']);
    await advance(700);
    await m.onCleared(rule.id, 'h1');
    const done = await get(order.id);
    expect(done).toMatchObject({
      state: 'succeeded',
      reason: 'the condition cleared 700 ms after step 1 (service.restart) succeeded',
      clearedAt: new Date(T0 + 1000).toISOString(),
    });
    expect(done.history.map((h) => h.state)).toEqual(['requested', 'dispatched', 'acknowledged', 'result', 'verifying', 'cleared', 'succeeded']);
  });

  it('succeeds at the result when the condition cleared while the step ran', async () => {
    const m = make();
    await m.request(rule, { host: 'h1' });
    await m.onCleared(rule.id, 'h1');
    expect((await get('w1')).state).toBe('dispatched');
    await m.onResult('h1', ok(sent[0].run));
    expect(await get('w1')).toMatchObject({ state: 'succeeded', reason: 'the condition cleared after step 1 (service.restart, which exited 0)' });
  });

  it('climbs the ladder: a step that does not clear the fault is followed by the next', async () => {
    rule = mkRule({
      action: undefined,
      params: undefined,
      steps: [
        { action: 'script.run', params: { name: 'flush' } },
        { action: 'service.restart', params: { service: 'svc' } },
      ],
      verifyWithin: '10s',
    });
    const m = make();
    await m.request(rule, { host: 'h1' });
    await m.onResult('h1', ok(sent[0].run));
    await advance(9_999);
    expect(sent).toHaveLength(1);
    await advance(1);
    expect(sent.map((s) => s.run.id)).toEqual(['w1.0', 'w1.1']);
    expect((await get('w1')).action).toBe('service.restart');
    await m.onResult('h1', ok(sent[1].run));
    await m.onCleared(rule.id, 'h1');
    const done = await get('w1');
    expect(done.state).toBe('succeeded');
    expect(done.steps.map((s) => s.state)).toEqual(['succeeded', 'succeeded']);
    expect(done.history.find((h) => h.state === 'next-step')!.note).toBe('the condition still held 10s after step 1 (script.run) succeeded; trying step 2');
  });

  it('goes to the next step at once when a step fails, and escalates when the ladder runs out', async () => {
    rule = mkRule({
      action: undefined,
      params: undefined,
      steps: [
        { action: 'script.run', params: { name: 'a' } },
        { action: 'script.run', params: { name: 'b' } },
      ],
    });
    const m = make();
    await m.request(rule, { host: 'h1' });
    await m.onResult('h1', ok(sent[0].run, 'failed'));
    expect(sent).toHaveLength(2);
    await m.onResult('h1', ok(sent[1].run));
    await advance(30_000);
    const done = await get('w1');
    expect(done).toMatchObject({ state: 'failed', reason: 'all 2 steps tried; the condition still held 30s after step 2 (script.run) succeeded' });
    expect(notices).toEqual([
      { kind: 'escalation', order: 'w1', text: expect.stringContaining('step 1 script.run: failed (exit 1); step 2 script.run: exited 0') },
    ]);
    expect(done.notifications).toEqual([{ at: new Date(T0 + 30_000).toISOString(), receiver: 'ops', kind: 'escalation' }]);
  });

  it('fails at once, without escalating, when the host is not connected', async () => {
    offline.add('h1');
    const order = await make().request(rule, { host: 'h1' });
    expect(order).toMatchObject({ state: 'failed', reason: 'host h1 is not connected; nothing was sent', dispatchedAt: null });
    expect(notices).toEqual([]);
  });

  it('times out a step with no result and keeps a late result', async () => {
    const m = make();
    await m.request(rule, { host: 'h1' });
    await advance(64_999);
    expect((await get('w1')).state).toBe('dispatched');
    await advance(1);
    expect(await get('w1')).toMatchObject({ state: 'timed-out', reason: 'no result for step 1 (service.restart) within 65s of dispatch (never acknowledged)' });
    expect(await m.onResult('h1', ok(sent[0].run))).toBe(true);
    const late = await get('w1');
    expect(late.state).toBe('timed-out');
    expect(late.steps[0].result?.outcome).toBe('succeeded');
  });

  it('skips past maxPerHour and cooldown with the reason, also after a restart', async () => {
    rule = mkRule({ maxPerHour: 2, cooldown: '5m' });
    const m = make();
    const finish = async (id: string, i: number) => {
      await m.onResult('h1', ok(sent[i].run));
      await m.onCleared(rule.id, 'h1');
      expect((await get(id)).state).toBe('succeeded');
    };
    await m.request(rule, { host: 'h1' });
    await finish('w1', 0);
    await advance(60_000);
    expect(await m.request(rule, { host: 'h1' })).toMatchObject({
      state: 'skipped',
      reason: 'cooldown 300s: the last heal of web/svc-down on h1 started 60s ago',
    });
    await advance(240_000);
    await m.request(rule, { host: 'h1' });
    await finish('w3', 1);
    await advance(300_000);
    expect((await m.request(rule, { host: 'h1' }))!.reason).toMatch(/^maxPerHour 2 reached for web\/svc-down on h1/);
    const again = make();
    await again.restore();
    expect((await again.request(rule, { host: 'h1' }))!.state).toBe('skipped');
  });

  it('maxConcurrent "20%" of 10 hosts lets 2 heal at once', async () => {
    rule = mkRule({ maxConcurrent: '20%' });
    hostCount = 10;
    const m = make();
    const orders: HealRecord[] = [];
    for (let i = 1; i <= 10; i++) orders.push((await m.request(rule, { host: `h${i}` }))!);
    expect(orders.map((o) => o.state)).toEqual(['dispatched', 'dispatched', ...Array(8).fill('skipped')]);
    expect(orders[2].reason).toBe('maxConcurrent 20% (2 of 10 hosts) reached for web/svc-down: healing h1, h2; retried when one finishes');
    await m.onResult('h1', ok(sent[0].run));
    await m.onCleared(rule.id, 'h1');
    expect((await m.request(rule, { host: 'h3' }))!.state).toBe('dispatched');
  });

  it('holds a fleet-wide limit across rules', async () => {
    hostCount = 4;
    const other = { ...mkRule({}), id: 'db/other', name: 'other' };
    const m = make(1);
    m.setRules([rule, other]);
    expect((await m.request(rule, { host: 'h1' }))!.state).toBe('dispatched');
    expect(await m.request(other, { host: 'h2' })).toMatchObject({
      state: 'skipped',
      reason: 'fleet-wide limit 1 (1 of 4 hosts) reached: healing h1; retried when one finishes',
    });
    expect((await m.request(other, { host: 'h1' }))!.state).toBe('dispatched');
  });

  it('opens a circuit breaker after repeated failures, notifies, and closes after a healthy period or a reset', async () => {
    rule = mkRule({ maxPerHour: 100, breaker: { failures: 2, window: '1h', resetAfter: '10m' } });
    const m = make();
    for (let i = 0; i < 2; i++) {
      await m.request(rule, { host: 'h1' });
      await m.onResult('h1', ok(sent[i].run, 'failed'));
    }
    expect(notices.map((x) => x.kind)).toEqual(['escalation', 'escalation', 'breaker-open']);
    expect(m.breakerList()).toEqual([expect.objectContaining({ rule: rule.id, host: 'h1', state: 'open', recentFailures: 2 })]);
    const blocked = (await m.request(rule, { host: 'h1' }))!;
    expect(blocked.state).toBe('skipped');
    expect(blocked.reason).toMatch(
      /^circuit breaker open for web\/svc-down on h1 since .*; it closes after 600s without the fault, or reset it: laas breakers reset web\/svc-down h1$/,
    );
    await m.onCleared(rule.id, 'h1');
    await advance(599_000);
    expect((await m.request(rule, { host: 'h1' }))!.state).toBe('skipped');
    await m.onCleared(rule.id, 'h1');
    await advance(600_000);
    expect((await m.request(rule, { host: 'h1' }))!.state).toBe('dispatched');
    await m.onResult('h1', ok(sent[2].run, 'failed'));
    await m.request(rule, { host: 'h1' });
    await m.onResult('h1', ok(sent[3].run, 'failed'));
    expect(m.breakerList()[0].state).toBe('open');
    const restarted = make();
    await restarted.restore();
    expect((await restarted.request(rule, { host: 'h1' }))!.state).toBe('skipped');
    expect(await restarted.resetBreaker(rule.id, 'h1', 'alice')).toBe(true);
    expect((await restarted.request(rule, { host: 'h1' }))!.state).toBe('dispatched');
  });

  it('waits for approval: approved runs, rejected and expired do not', async () => {
    rule = mkRule({ approval: 'required', approvalTimeout: '1h', maxPerHour: 10 });
    const m = make();
    const a = (await m.request(rule, { host: 'h1' }))!;
    expect(a.state).toBe('awaiting-approval');
    expect(sent).toEqual([]);
    expect(notices[0]).toMatchObject({ kind: 'approval-needed', text: expect.stringContaining(`laas approve ${a.id}`) });
    const approved = await m.approve(a.id, 'alice', 'go');
    expect(approved).toMatchObject({ state: 'dispatched', approval: { decision: 'approved', by: 'alice', comment: 'go' } });
    expect(sent).toHaveLength(1);
    await expect(m.approve(a.id, 'bob')).rejects.toMatchObject({ code: 'HEAL_NOT_AWAITING_APPROVAL' });
    await m.onResult('h1', ok(sent[0].run));
    await m.onCleared(rule.id, 'h1');

    const b = (await m.request(rule, { host: 'h2' }))!;
    expect(await m.reject(b.id, 'bob', 'not now')).toMatchObject({ state: 'rejected', reason: 'rejected by bob: not now' });

    const c = (await m.request(rule, { host: 'h3' }))!;
    await advance(3_600_000);
    expect(await get(c.id)).toMatchObject({ state: 'rejected', approval: { decision: 'expired' } });
    expect((await get(c.id)).reason).toMatch(/^approval expired at .* with no decision$/);

    const d = (await m.request(rule, { host: 'h4' }))!;
    await m.onCleared(rule.id, 'h4');
    expect(await get(d.id)).toMatchObject({ state: 'skipped', reason: 'the problem cleared before anyone approved the heal' });
    expect(sent).toHaveLength(1);
    await expect(m.approve('nope', 'x')).rejects.toMatchObject({ code: 'HEAL_NOT_FOUND' });
  });

  it('shadow mode records exactly what would have run and sends nothing', async () => {
    rule = mkRule({}, { mode: 'shadow' });
    const m = make();
    const order = (await m.request(rule, { host: 'h1' }))!;
    expect(order).toMatchObject({ state: 'shadow', mode: 'shadow', reason: 'shadow mode: would run service.restart {"service":"svc"} on h1' });
    expect(sent).toEqual([]);
  });

  it('a global pause stops every heal until resumed, across a restart', async () => {
    const m = make();
    await m.pause('alice', 'deploy in progress');
    const order = (await m.request(rule, { host: 'h1' }))!;
    expect(order.state).toBe('skipped');
    expect(order.reason).toMatch(/^heals are paused fleet-wide by alice since .* \(deploy in progress\); resume with: laas resume$/);
    const again = make();
    await again.restore();
    expect(again.paused()).toMatchObject({ by: 'alice' });
    await again.resume('alice');
    expect((await again.request(rule, { host: 'h1' }))!.state).toBe('dispatched');
  });

  it('keeps verifying across a controller restart', async () => {
    const m = make();
    await m.request(rule, { host: 'h1' });
    await m.onResult('h1', ok(sent[0].run));
    m.close();
    const again = make();
    await again.restore();
    await advance(30_000);
    expect(await get('w1')).toMatchObject({ state: 'failed', reason: 'the condition still held 30s after step 1 (service.restart) succeeded' });
  });

  it('refuses a second order for a rule and host while one is open', async () => {
    const m = make();
    await m.request(rule, { host: 'h1' });
    expect(await m.request(rule, { host: 'h1' })).toMatchObject({ state: 'skipped', reason: 'work order w1 for web/svc-down on h1 is still open' });
  });
});

/**
 * Two controllers on one database, as HealService sees them: one store, decisions taken one at
 * a time with the heals in flight on both, and a heal ending on one telling the other. A heal
 * deferred because the other controller held the slot gets its turn when that heal ends.
 */
describe('heal service, two controllers sharing the heal slots', () => {
  let store: MemoryStore;
  let sent: { host: string; run: Run }[];
  let n: number;
  let told: Promise<void>[];

  const controllers = (rule: Rule, fleetLimit?: number) => {
    const clock = new SimClock(T0);
    let gate: Promise<unknown> = Promise.resolve();
    const both: HealService[] = [];
    const make = (name: string, self: () => HealService, other: () => HealService) =>
      new HealService({
        store,
        metrics: createMetrics(),
        log: silentLogger,
        clock,
        fleetLimit,
        newId: () => `${name}${++n}`,
        send: (host, run) => {
          sent.push({ host, run });
          return true;
        },
        requestSample: () => undefined,
        notify: () => [],
        // Each controller sees its own host only: "1 of 1 host", as in a cluster.
        hostsSelected: () => 1,
        fleetSize: () => 2,
        fleet: {
          decide: <T>(fn: (inFlight: { host: string; rule: string }[]) => Promise<T>) => {
            const next = gate.then(async () => fn((await store.listHeals({ state: 'dispatched' })).map((h) => ({ host: h.host, rule: h.rule }))));
            gate = next.catch(() => undefined);
            return next;
          },
          freed: async () => {
            told.push(other().slotFreed());
          },
        },
        // The controller's own deferred alert, asked for again (what Core.retryDeferred does).
        retry: async (_rule, host) => {
          await self().request(rule, { host });
        },
      });
    both.push(
      make(
        'a',
        () => both[0],
        () => both[1],
      ),
      make(
        'b',
        () => both[1],
        () => both[0],
      ),
    );
    for (const c of both) c.setRules([rule]);
    return both;
  };
  /** Ends the heal on `host` (its result, then its condition clears), and waits for the other controller to hear of it. */
  const heal = async (c: HealService, rule: Rule, host: string) => {
    await c.onResult(host, ok(sent.find((s) => s.host === host)!.run));
    await c.onCleared(rule.id, host);
    await Promise.all(told);
  };

  beforeEach(() => {
    store = new MemoryStore();
    sent = [];
    n = 0;
    told = [];
  });

  it('a scheduled host that lost the slot to the other controller runs when that heal ends, in the same tick', async () => {
    const rule = mkRule({});
    const [a, b] = controllers(rule);
    await a.runSchedule(rule, ['t1']);
    await b.runSchedule(rule, ['t2']);
    expect(sent.map((s) => s.host)).toEqual(['t1']);
    expect((await store.listHeals({ host: 't2' }))[0]).toMatchObject({
      state: 'skipped',
      reason: 'maxConcurrent 25% (1 of 1 host) reached for web/svc-down: healing t1; retried when one finishes',
    });
    await heal(a, rule, 't1');
    expect(sent.map((s) => s.host)).toEqual(['t1', 't2']);
  });

  it('a firing alert deferred by the fleet-wide limit is healed when the heal holding the slot ends on the other controller', async () => {
    const rule = mkRule({ maxConcurrent: 10 });
    const [a, b] = controllers(rule, 1);
    await a.request(rule, { host: 'p1' });
    expect(await b.request(rule, { host: 'p2' })).toMatchObject({
      state: 'skipped',
      reason: 'fleet-wide limit 1 (1 of 2 hosts) reached: healing p1; retried when one finishes',
    });
    await heal(a, rule, 'p1');
    expect(sent.map((s) => s.host)).toEqual(['p1', 'p2']);
  });
});
