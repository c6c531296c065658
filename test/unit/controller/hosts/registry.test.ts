import { beforeEach, describe, expect, it } from 'vitest';
import { HostRegistry } from '../../../../controller/hosts/registry.js';
import { createMetrics } from '../../../../controller/metrics.js';
import type { HostRecord } from '../../../../controller/model.js';
import { MemoryStore } from '../../../../controller/store/memory.js';
import type { Hello } from '../../../../protocol/index.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const S = 1000;
const MIN = 60 * S;
const DOWN_AFTER = 30 * S;

const hello = (id: string, extra: Partial<Hello> = {}): Hello => ({
  agentId: id,
  agentVersion: '1.0.0',
  hostname: `${id}.example`,
  labels: { role: 'web' },
  os: { platform: 'linux', release: '6.1' },
  intervalMs: 5 * S,
  services: ['demo'],
  actions: ['service.restart'],
  scripts: [],
  ...extra,
});

const stored = (id: string, lastSeen: number, extra: Partial<HostRecord> = {}): HostRecord => ({
  id,
  hostname: id,
  labels: {},
  os: { platform: 'linux', release: '6.1' },
  agentVersion: '1.0.0',
  services: [],
  actions: [],
  connected: true,
  up: true,
  firstSeen: new Date(lastSeen).toISOString(),
  lastSeen: new Date(lastSeen).toISOString(),
  intervalMs: 5 * S,
  ...extra,
});

describe('host registry', () => {
  let now: number;
  let store: MemoryStore;
  let metrics: ReturnType<typeof createMetrics>;
  let puts: HostRecord[];

  const make = (startedAt = now) => new HostRegistry({ store, metrics, clock: () => now, downAfterMs: DOWN_AFTER, startedAt });
  const upGauge = async (host: string) => (await metrics.hostUp.get()).values.find((v) => v.labels.host === host)?.value;

  beforeEach(() => {
    now = T0;
    store = new MemoryStore();
    metrics = createMetrics();
    puts = [];
    const put = store.putHost.bind(store);
    store.putHost = async (h) => {
      puts.push(structuredClone(h));
      await put(h);
    };
  });

  it('records a connecting agent as a connected, up host, and keeps firstSeen across reconnects', async () => {
    const r = make();
    const first = await r.connected(hello('web-1'));
    expect(first).toMatchObject({
      id: 'web-1',
      hostname: 'web-1.example',
      labels: { role: 'web' },
      connected: true,
      up: true,
      firstSeen: new Date(T0).toISOString(),
      restarted: false,
    });
    expect(await store.getHost('web-1')).toMatchObject({ connected: true, up: true });
    expect(await upGauge('web-1')).toBe(1);
    await r.disconnected('web-1');
    expect(r.get('web-1')?.connected).toBe(false);
    expect((await store.getHost('web-1'))?.connected).toBe(false);
    now = T0 + 5 * MIN;
    const again = await r.connected(hello('web-1', { labels: { role: 'db' } }));
    expect(again).toMatchObject({ firstSeen: new Date(T0).toISOString(), lastSeen: new Date(T0 + 5 * MIN).toISOString(), labels: { role: 'db' } });
  });

  it('tells a restarted agent process (a new instance id) from a reconnect of the same one', async () => {
    const r = make();
    expect((await r.connected(hello('h', { instance: 'a' }))).restarted).toBe(false);
    expect((await r.connected(hello('h', { instance: 'a' }))).restarted).toBe(false);
    expect((await r.connected(hello('h', { instance: 'b' }))).restarted).toBe(true);
    // Known only from the store (another controller saw it last): still compared.
    const other = new HostRegistry({ store, metrics, clock: () => now, downAfterMs: DOWN_AFTER, startedAt: T0 });
    expect((await other.connected(hello('h', { instance: 'c' }))).restarted).toBe(true);
  });

  it('marks a host down once it is silent for downAfterMs, once, and back up on its next sign of life', async () => {
    const r = make();
    await r.connected(hello('h1'));
    expect(await r.sweep(T0 + DOWN_AFTER - 1)).toEqual([]);
    const down = await r.sweep(T0 + DOWN_AFTER);
    expect(down.map((h) => h.id)).toEqual(['h1']);
    expect(down[0].lastSeen).toBe(new Date(T0).toISOString());
    expect(r.get('h1')?.up).toBe(false);
    expect((await store.getHost('h1'))?.up).toBe(false);
    expect(await upGauge('h1')).toBe(0);
    // Already down: host-down is raised once, not on every sweep.
    expect(await r.sweep(T0 + 10 * MIN)).toEqual([]);
    expect(await r.seen('h1', T0 + 10 * MIN)).toBe(true);
    expect(r.get('h1')?.up).toBe(true);
    expect((await store.getHost('h1'))?.up).toBe(true);
    expect(await upGauge('h1')).toBe(1);
    expect(await r.seen('h1', T0 + 10 * MIN + S)).toBe(false);
  });

  it('a sample keeps the host up: the deadline counts from the last sign of life', async () => {
    const r = make();
    await r.connected(hello('h1'));
    await r.seen('h1', T0 + 20 * S);
    expect(await r.sweep(T0 + 20 * S + DOWN_AFTER - 1)).toEqual([]);
    expect((await r.sweep(T0 + 20 * S + DOWN_AFTER)).map((h) => h.id)).toEqual(['h1']);
  });

  it('gives an agent that samples rarely three of its intervals before it counts as down', async () => {
    const r = make();
    await r.connected(hello('slow', { intervalMs: MIN }));
    await r.connected(hello('fast', { intervalMs: S }));
    expect((await r.sweep(T0 + DOWN_AFTER)).map((h) => h.id)).toEqual(['fast']);
    expect(await r.sweep(T0 + 3 * MIN - 1)).toEqual([]);
    expect((await r.sweep(T0 + 3 * MIN)).map((h) => h.id)).toEqual(['slow']);
  });

  it('after a controller stall every host gets its full deadline again (excuse)', async () => {
    const r = make();
    await r.connected(hello('h1'));
    await r.connected(hello('h2'));
    await r.seen('h2', T0 + 10 * S);
    // The controller was stopped for two minutes: it heard nothing because it was not listening.
    now = T0 + 2 * MIN;
    r.excuse();
    expect(await r.sweep(T0 + 2 * MIN + DOWN_AFTER - 1)).toEqual([]);
    expect((await r.sweep(T0 + 2 * MIN + DOWN_AFTER)).map((h) => h.id).sort()).toEqual(['h1', 'h2']);
  });

  it('excuse never moves a sign of life back in time', async () => {
    const r = make();
    await r.connected(hello('h1'));
    await r.seen('h1', T0 + MIN);
    r.excuse(); // the clock still says T0: the later sample stands
    expect(await r.sweep(T0 + MIN + DOWN_AFTER - 1)).toEqual([]);
  });

  it('after a restart every known host gets its full deadline from the start, and is not connected', async () => {
    await store.putHost(stored('old', T0 - 3 * 3_600_000));
    await store.putHost(stored('other', T0 - 3 * 3_600_000));
    await store.putHost(stored('was-down', T0 - 3 * 3_600_000, { up: false }));
    const r = make(T0);
    await r.restore((id) => id !== 'other');
    expect(
      r
        .list()
        .map((h) => h.id)
        .sort(),
    ).toEqual(['old', 'was-down']);
    expect(r.get('old')?.connected).toBe(false);
    expect(await upGauge('was-down')).toBe(0);
    // A restart never reads as "all hosts down".
    expect(await r.sweep(T0 + DOWN_AFTER - 1)).toEqual([]);
    expect((await r.sweep(T0 + DOWN_AFTER)).map((h) => h.id)).toEqual(['old']);
  });

  it('lists hosts with their in-memory last-seen, while the store is written only now and then', async () => {
    const r = make();
    await r.connected(hello('h1'));
    const writes = puts.length;
    for (let t = 5 * S; t < 5 * MIN; t += 5 * S) await r.seen('h1', T0 + t);
    expect(puts.length).toBe(writes);
    expect(r.list()[0].lastSeen).toBe(new Date(T0 + 5 * MIN - 5 * S).toISOString());
    // At least every ten minutes it reaches the store, so a crash shows a recent value.
    await r.seen('h1', T0 + 10 * MIN);
    expect((await store.getHost('h1'))?.lastSeen).toBe(new Date(T0 + 10 * MIN).toISOString());
    // A disconnect writes the latest value it heard.
    await r.seen('h1', T0 + 11 * MIN);
    await r.disconnected('h1');
    expect((await store.getHost('h1'))?.lastSeen).toBe(new Date(T0 + 11 * MIN).toISOString());
  });

  it('list returns copies: changing one does not change the registry', async () => {
    const r = make();
    await r.connected(hello('h1'));
    r.list()[0].up = false;
    expect(r.get('h1')?.up).toBe(true);
  });

  it('counts hosts that match', async () => {
    const r = make();
    await r.connected(hello('a', { labels: { role: 'web' } }));
    await r.connected(hello('b', { labels: { role: 'db' } }));
    await r.connected(hello('c', { labels: { role: 'web' } }));
    expect(r.count()).toBe(3);
    expect(r.count((h) => h.labels.role === 'web')).toBe(2);
  });

  it('ignores signs of life and disconnects of hosts it does not know', async () => {
    const r = make();
    expect(await r.seen('ghost')).toBe(false);
    await r.disconnected('ghost');
    expect(r.list()).toEqual([]);
    expect(puts).toEqual([]);
  });

  it("adopts a dead controller's host unconnected with half a deadline, and never over one it knows", async () => {
    const r = make();
    now = T0 + 10 * MIN;
    r.adopt(stored('orphan', T0));
    expect(r.get('orphan')?.connected).toBe(false);
    expect(await r.sweep(T0 + 10 * MIN + DOWN_AFTER / 2 - 1)).toEqual([]);
    expect((await r.sweep(T0 + 10 * MIN + DOWN_AFTER / 2)).map((h) => h.id)).toEqual(['orphan']);
    await r.connected(hello('mine'));
    r.adopt(stored('mine', T0, { hostname: 'stale' }));
    expect(r.get('mine')?.hostname).toBe('mine.example');
    expect(r.get('mine')?.connected).toBe(true);
  });

  it('persist writes the adopted host with the last-seen it keeps', async () => {
    const r = make();
    now = T0 + 10 * MIN;
    r.adopt(stored('orphan', T0));
    await r.persist('orphan');
    expect(await store.getHost('orphan')).toMatchObject({ connected: false, lastSeen: new Date(T0 + 10 * MIN - DOWN_AFTER / 2).toISOString() });
    await r.persist('ghost');
    expect(await store.getHost('ghost')).toBeUndefined();
  });

  it('forgets a host another controller took: it is not listed, counted or swept here', async () => {
    const r = make();
    await r.connected(hello('h1'));
    r.forget('h1');
    expect(r.get('h1')).toBeUndefined();
    expect(r.count()).toBe(0);
    expect(await r.sweep(T0 + 10 * MIN)).toEqual([]);
  });
});
