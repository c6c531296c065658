import { beforeEach, describe, expect, it } from 'vitest';
import { SimClock } from '../../../../controller/clock.js';
import { BrakeState } from '../../../../controller/heal/brake-state.js';
import type { BreakerConfig } from '../../../../controller/heal/breaker.js';
import { escalate } from '../../../../controller/heal/escalate.js';
import { Orders, type NoticeKind } from '../../../../controller/heal/orders.js';
import { createMetrics, type Metrics } from '../../../../controller/metrics.js';
import type { HealRecord } from '../../../../controller/model.js';
import { ruleSchema, type Rule } from '../../../../controller/rules/schema.js';
import { MemoryStore } from '../../../../controller/store/memory.js';
import { silentLogger } from '../../../../protocol/index.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const gauge = async (metrics: Metrics, name: 'healPaused' | 'breakersOpen') => (await metrics[name].get()).values[0]?.value;

describe('brake state: the pause and the breakers', () => {
  let store: MemoryStore;
  let clock: SimClock;
  let metrics: Metrics;
  let configs: Map<string, BreakerConfig>;
  const make = () => new BrakeState({ store, metrics, log: silentLogger, clock, breakerOf: (r) => configs.get(r) });
  const order = (rule: string, host: string): HealRecord => ({ rule, host }) as HealRecord;

  beforeEach(() => {
    store = new MemoryStore();
    clock = new SimClock(T0);
    metrics = createMetrics();
    configs = new Map();
  });

  it('keeps the pause in the store, shows it as a gauge, and a restarted controller reads it back', async () => {
    const s = make();
    expect(s.paused()).toBeNull();
    await s.pause('alice', 'maintenance');
    expect(await store.getState('pause')).toEqual({ by: 'alice', at: new Date(T0).toISOString(), reason: 'maintenance' });
    expect(await gauge(metrics, 'healPaused')).toBe(1);

    const again = make();
    await again.restore();
    expect(again.paused()).toMatchObject({ by: 'alice', reason: 'maintenance' });

    await again.resume('bob');
    expect(again.paused()).toBeNull();
    expect(await store.getState('pause')).toBeUndefined();
    expect(await gauge(metrics, 'healPaused')).toBe(0);
  });

  it("opens a breaker at the rule's own failure count (or the default of 3), saves it, and an operator can reset it", async () => {
    configs.set('strict', { failures: 1, window: 60_000, resetAfter: 120_000 });
    const s = make();
    expect(await s.recordFailure(order('strict', 'h1'))).toEqual({ failures: 1, window: 60_000, resetAfter: 120_000 });
    expect(await s.recordFailure(order('lenient', 'h1'))).toBeUndefined();
    expect(await s.recordFailure(order('lenient', 'h1'))).toBeUndefined();
    expect(await s.recordFailure(order('lenient', 'h1'))).toMatchObject({ failures: 3 });
    expect(await gauge(metrics, 'breakersOpen')).toBe(2);
    expect(s.breakerList().find((b) => b.rule === 'strict')).toMatchObject({
      state: 'open',
      closesAt: new Date(T0 + 120_000).toISOString(),
    });

    const again = make();
    await again.restore();
    expect(
      again
        .breakerList()
        .filter((b) => b.state === 'open')
        .map((b) => b.rule),
    ).toEqual(['strict', 'lenient']);
    expect(await again.resetBreaker('strict', 'h1', 'alice')).toBe(true);
    expect(await again.resetBreaker('strict', 'h1', 'alice')).toBe(false);
    expect(await gauge(metrics, 'breakersOpen')).toBe(1);
  });
});

describe('escalate: a heal that ran and failed', () => {
  it('tells people with the story of its steps, and once more when its failure opens the breaker', async () => {
    const store = new MemoryStore();
    const clock = new SimClock(T0);
    const metrics = createMetrics();
    const notices: { kind: NoticeKind; text: string }[] = [];
    const orders = new Orders({
      store,
      metrics,
      log: silentLogger,
      clock,
      notify: (_o, kind, text) => (notices.push({ kind, text }), ['ops']),
      settle: async () => {},
      onFinished: async () => {},
      newId: () => 'w1',
    });
    const parsed = ruleSchema.parse({
      name: 'svc-down',
      when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] },
      notify: ['ops'],
      heal: { action: 'service.restart', params: { service: 'svc' }, breaker: { failures: 2, window: '1h', resetAfter: '30m' } },
    });
    const rule: Rule = { ...parsed, id: 'web/svc-down', namespace: 'web', file: 'x.json', effectiveMode: 'enforce' };
    const state = new BrakeState({ store, metrics, log: silentLogger, clock, breakerOf: () => rule.heal?.breaker });
    const failed = { ...orders.create(rule, { host: 'h1', trigger: 'alert' }, T0), state: 'failed' as const, reason: 'exit 1' };

    await escalate(failed, { orders, state, metrics, log: silentLogger, ruleLoaded: true });
    expect(notices.map((n) => n.kind)).toEqual(['escalation']);
    expect(notices[0].text).toMatch(/^automatic heal failed for web\/svc-down on h1: exit 1\. /);

    await escalate(failed, { orders, state, metrics, log: silentLogger, ruleLoaded: true });
    expect(notices.map((n) => n.kind)).toEqual(['escalation', 'escalation', 'breaker-open']);
    expect(notices[2].text).toContain('laas breakers reset web/svc-down h1');
    expect(failed.history.map((h) => h.state)).toContain('breaker-open');
  });
});
