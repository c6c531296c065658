import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HealDispatcher } from '../../../controller/heal/dispatcher.js';
import { createMetrics } from '../../../controller/metrics.js';
import { loadRules } from '../../../controller/rules/load.js';
import { LowdbStore } from '../../../controller/store/lowdb.js';
import type { AlertRecord } from '../../../controller/store/store.js';
import { silentLogger, type Result, type Run } from '../../../protocol/index.js';

const rule = loadRules(['rules']).rules.find((r) => r.id === 'demo/demo-down')!;
const T0 = Date.parse('2026-01-01T00:00:00Z');

function alert(id = 'a1'): AlertRecord {
  return { id, rule: rule.id, host: 'h1', severity: 'critical', state: 'firing', startsAt: new Date(T0).toISOString(), firedAt: new Date(T0).toISOString(), endsAt: null, summary: '', description: '', labels: {}, fingerprint: 'f', heals: [], updatedAt: '' };
}

function result(run: Run, outcome: Result['outcome'], exitCode: number | null = outcome === 'succeeded' ? 0 : 1): Result {
  return { id: run.id, action: run.action, outcome, exitCode, signal: null, stdout: 'out', stderr: '', truncated: false, startedAt: T0, durationMs: 5 };
}

describe('heal dispatcher', () => {
  let dir: string;
  let store: LowdbStore;
  let now: number;
  let sent: Run[];
  let connected: boolean;
  let n: number;
  const make = () => new HealDispatcher({
    store, metrics: createMetrics(), log: silentLogger, clock: () => now,
    send: (_host, run) => { if (connected) sent.push(run); return connected; }, newId: () => `w${++n}`,
  });

  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    dir = mkdtempSync(join(tmpdir(), 'laas-heal-'));
    store = await LowdbStore.open({ dataDir: dir, log: silentLogger });
    now = T0;
    sent = [];
    connected = true;
    n = 0;
  });
  afterEach(async () => {
    vi.useRealTimers();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('dispatches, records the ack and the result: succeeded', async () => {
    const d = make();
    const order = await d.request(rule, alert(), T0 - 300);
    expect(sent).toEqual([{ id: 'w1', action: 'service.restart', params: { service: 'demo' }, timeoutMs: 60_000, deadline: T0 + 30_000 }]);
    expect(order).toMatchObject({ state: 'dispatched', faultAt: new Date(T0 - 300).toISOString(), dispatchedAt: new Date(T0).toISOString() });
    now += 10;
    await d.onAck('h1', 'w1');
    now += 500;
    expect(await d.onResult('h1', result(sent[0], 'succeeded'))).toBe(true);
    const stored = await store.getHeal('w1');
    expect(stored).toMatchObject({ state: 'succeeded', reason: 'service.restart exited 0', ackedAt: new Date(T0 + 10).toISOString(), finishedAt: new Date(T0 + 510).toISOString(), result: { outcome: 'succeeded', stdout: 'out' } });
    expect(stored!.history.map((h) => h.state)).toEqual(['dispatched', 'acknowledged', 'succeeded']);
  });

  it('records a failed or refused action as failed, with the reason', async () => {
    const d = make();
    await d.request(rule, alert(), T0);
    await d.onResult('h1', { ...result(sent[0], 'refused', null), error: { code: 'ACTION_NOT_ALLOWED', message: 'service demo is not in this agent\'s config' } });
    expect(await store.getHeal('w1')).toMatchObject({ state: 'failed', reason: 'ACTION_NOT_ALLOWED: service demo is not in this agent\'s config' });
    await d.request(rule, alert('a2'), T0);
    await d.onResult('h1', result(sent[1], 'failed', 3));
    expect(await store.getHeal('w2')).toMatchObject({ state: 'failed', reason: 'service.restart failed (exit 3)' });
  });

  it('ignores a result from another host', async () => {
    const d = make();
    await d.request(rule, alert(), T0);
    expect(await d.onResult('intruder', result(sent[0], 'succeeded'))).toBe(false);
    expect((await store.getHeal('w1'))!.state).toBe('dispatched');
  });

  it('fails at once when the host is not connected, and sends nothing', async () => {
    connected = false;
    const order = await make().request(rule, alert(), T0);
    expect(order).toMatchObject({ state: 'failed', reason: 'host h1 is not connected; nothing was sent', dispatchedAt: null });
  });

  it('times out when no result comes, and keeps a late result without changing the state', async () => {
    const d = make();
    await d.request(rule, alert(), T0);
    now = T0 + 64_999;
    await vi.advanceTimersByTimeAsync(64_999);
    expect((await store.getHeal('w1'))!.state).toBe('dispatched');
    now = T0 + 65_000;
    await vi.advanceTimersByTimeAsync(1);
    expect(await store.getHeal('w1')).toMatchObject({ state: 'timed-out', reason: 'no result within 65s of dispatch (never acknowledged)' });
    expect(await d.onResult('h1', result(sent[0], 'succeeded'))).toBe(true);
    const late = (await store.getHeal('w1'))!;
    expect(late.state).toBe('timed-out');
    expect(late.result?.outcome).toBe('succeeded');
    expect(late.history.at(-1)!.note).toBe('late result after timed-out: succeeded');
  });

  it('skips past maxPerHour, with the reason, and counts again after a restart', async () => {
    const d = make();
    for (let i = 0; i < rule.heal!.maxPerHour; i++) {
      await d.request(rule, alert(`a${i}`), now);
      await d.onResult('h1', result(sent[i], 'succeeded'));
      now += 60_000;
    }
    const skipped = await d.request(rule, alert('over'), now);
    expect(skipped).toMatchObject({ state: 'skipped' });
    expect(skipped!.reason).toMatch(/^maxPerHour 10 reached for demo\/demo-down on h1 \(10 in the last hour\)/);
    expect(sent).toHaveLength(10);
    await store.flush();
    const again = make();
    await again.restore();
    expect((await again.request(rule, alert('after-restart'), now))!.state).toBe('skipped');
  });

  it('re-arms the timeout of open work orders after a restart, and resends unacknowledged ones on reconnect', async () => {
    await make().request(rule, alert(), T0);
    await store.flush();
    const d = make();
    await d.restore();
    expect(d.openOrders().map((o) => o.id)).toEqual(['w1']);
    d.resend('h1');
    expect(sent.map((r) => r.id)).toEqual(['w1', 'w1']);
    now = T0 + 65_000;
    await vi.advanceTimersByTimeAsync(65_000);
    expect((await store.getHeal('w1'))!.state).toBe('timed-out');
  });
});
