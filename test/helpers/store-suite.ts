import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentClaim, AlertRecord, EnrollTokenRecord, HealRecord, HostRecord } from '../../controller/model.js';
import type { Store } from '../../controller/store/store.js';

/**
 * The behaviour every store must have, run against each implementation: what one store does,
 * the others do too, so a controller can move between them without changing what it sees.
 */
export interface StoreUnderTest {
  /** A fresh, empty store. */
  open(): Promise<Store>;
  /** The same records, opened again after close() (undefined: the store keeps nothing). */
  reopen?: () => Promise<Store>;
  cleanup?: () => Promise<void>;
}

export const host = (id: string, extra: Partial<HostRecord> = {}): HostRecord => ({
  id,
  hostname: id,
  labels: { role: 'web' },
  os: { platform: 'linux', release: '6.1' },
  agentVersion: '0.1.0',
  services: ['demo'],
  actions: ['service.restart'],
  connected: true,
  up: true,
  firstSeen: '2026-01-01T00:00:00.000Z',
  lastSeen: '2026-01-01T00:00:01.000Z',
  intervalMs: 1000,
  ...extra,
});

export const alert = (id: string, extra: Partial<AlertRecord> = {}): AlertRecord => ({
  id,
  rule: 'web/demo-down',
  host: 'web-1',
  severity: 'critical',
  state: 'firing',
  startsAt: '2026-01-01T00:00:00.000Z',
  firedAt: '2026-01-01T00:00:00.000Z',
  endsAt: null,
  summary: 'demo is down',
  description: '',
  labels: { alertname: 'demo-down', host: 'web-1' },
  fingerprint: `f-${id}`,
  heals: [],
  updatedAt: '2026-01-01T00:00:00.000Z',
  ack: null,
  flapping: false,
  clearedAt: null,
  ...extra,
});

export const heal = (id: string, extra: Partial<HealRecord> = {}): HealRecord => ({
  id,
  alertId: null,
  rule: 'web/demo-down',
  host: 'web-1',
  trigger: 'alert',
  mode: 'enforce',
  action: 'service.restart',
  params: { service: 'demo' },
  state: 'dispatched',
  reason: 'rule fired',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  faultAt: null,
  dispatchedAt: null,
  ackedAt: null,
  finishedAt: null,
  timeoutMs: 30_000,
  result: null,
  steps: [
    {
      action: 'service.restart',
      params: { service: 'demo' },
      runId: `${id}.0`,
      state: 'dispatched',
      timeoutMs: 30_000,
      dispatchedAt: null,
      ackedAt: null,
      finishedAt: null,
      result: null,
    },
  ],
  step: 0,
  verifyWithinMs: 10_000,
  verifyingUntil: null,
  clearedAt: null,
  approval: null,
  notifications: [],
  history: [{ at: '2026-01-01T00:00:00.000Z', state: 'requested', note: 'x' }],
  ...extra,
});

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

const enrollToken = (id: string, extra: Partial<EnrollTokenRecord> = {}): EnrollTokenRecord => ({
  id,
  hash: `hash-of-${id}`,
  usesLeft: 1,
  expiresAt: at(3600),
  createdBy: 'ops',
  createdAt: at(0),
  labels: {},
  ...extra,
});
const credential = (id: string) => ({ id, hash: `cred-of-${id}`, enrolledAt: at(1), revokedAt: null, revokedBy: null });
const claim = (id: string, token: string | null, extra: Partial<AgentClaim> = {}): AgentClaim => ({
  id,
  kind: token === null ? 'enrolled' : 'shared',
  token,
  from: '10.0.0.1',
  at: at(1),
  ...extra,
});
const enroll = (store: Store, tokenHash: string, id: string, now = at(10)) =>
  store.enrollAgent({ tokenHash, credential: credential(id), claim: claim(id, null), now });

/** `durable: false` for a store that keeps nothing across a reopen (memory): its durability tests are not defined. */
export function storeSuite(name: string, make: () => StoreUnderTest, opts: { durable?: boolean } = {}): void {
  const durable = opts.durable ?? true;
  describe(`store contract: ${name}`, () => {
    let sut: StoreUnderTest;
    let store: Store;
    beforeEach(async () => {
      sut = make();
      store = await sut.open();
    });
    afterEach(async () => {
      await store.close().catch(() => undefined);
      await sut.cleanup?.();
    });

    it('round-trips hosts, alerts and work orders, nested fields and all', async () => {
      const h = host('web-1', { labels: { role: 'web', env: 'prod' }, instance: 'i-1' });
      const a = alert('a1', { ack: { by: 'ops', at: at(5), comment: 'looking' }, heals: ['w1'] });
      const w = heal('w1', {
        approval: { expiresAt: at(60), decision: null, by: null, at: null, comment: null },
        result: {
          id: 'w1.0',
          action: 'service.restart',
          outcome: 'succeeded',
          exitCode: 0,
          signal: null,
          stdout: 'ok\n"quoted" ü',
          stderr: '',
          truncated: false,
          durationMs: 12.5,
          startedAt: 1,
        },
      });
      await store.putHost(h);
      await store.putAlert(a);
      await store.putHeal(w);
      expect(await store.getHost('web-1')).toEqual(h);
      expect(await store.getAlert('a1')).toEqual(a);
      expect(await store.getHeal('w1')).toEqual(w);
      expect(await store.getHost('nope')).toBeUndefined();
      expect(await store.getAlert('nope')).toBeUndefined();
      expect(await store.getHeal('nope')).toBeUndefined();
      expect(await store.listHosts()).toEqual([h]);
    });

    it('replaces a record on a second put, and the last of quick writes wins', async () => {
      const w = heal('w1');
      await store.putHeal(w);
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 20; i++)
        writes.push(store.putHeal({ ...w, reason: `r${i}`, state: i === 19 ? 'succeeded' : 'dispatched', finishedAt: i === 19 ? at(9) : null }));
      await Promise.all(writes);
      const got = await store.getHeal('w1');
      expect(got?.reason).toBe('r19');
      expect(got?.state).toBe('succeeded');
      expect(await store.listHeals({ state: 'dispatched' })).toEqual([]);
      expect((await store.listHeals({ state: 'succeeded' })).map((h) => h.id)).toEqual(['w1']);
    });

    it('returns copies: changing a returned record changes nothing stored', async () => {
      await store.putAlert(alert('a1'));
      const got = (await store.getAlert('a1'))!;
      got.state = 'resolved';
      got.labels.extra = 'x';
      expect((await store.getAlert('a1'))!.state).toBe('firing');
      expect((await store.getAlert('a1'))!.labels.extra).toBeUndefined();
      const mine = heal('w1');
      await store.putHeal(mine);
      mine.history.push({ at: at(1), state: 'later', note: 'not stored' });
      expect((await store.getHeal('w1'))!.history).toHaveLength(1);
    });

    it('filters alerts by state and host, newest first, with a limit', async () => {
      await store.putAlert(alert('a1', { startsAt: at(1), host: 'web-1', state: 'firing' }));
      await store.putAlert(alert('a2', { startsAt: at(3), host: 'web-2', state: 'firing' }));
      await store.putAlert(alert('a3', { startsAt: at(2), host: 'web-1', state: 'resolved', endsAt: at(4) }));
      await store.putAlert(alert('a4', { startsAt: at(3), host: 'web-1', state: 'pending' }));
      expect((await store.listAlerts()).map((a) => a.id)).toEqual(['a4', 'a2', 'a3', 'a1']);
      expect((await store.listAlerts({ state: 'firing' })).map((a) => a.id)).toEqual(['a2', 'a1']);
      expect((await store.listAlerts({ host: 'web-1' })).map((a) => a.id)).toEqual(['a4', 'a3', 'a1']);
      expect((await store.listAlerts({ host: 'web-1', state: 'resolved' })).map((a) => a.id)).toEqual(['a3']);
      expect((await store.listAlerts({ limit: 2 })).map((a) => a.id)).toEqual(['a4', 'a2']);
      expect(await store.listAlerts({ host: 'nobody' })).toEqual([]);
    });

    it('filters work orders by state, host, rule and since, newest first, with a limit', async () => {
      await store.putHeal(heal('w1', { createdAt: at(1), host: 'web-1', rule: 'web/a' }));
      await store.putHeal(heal('w2', { createdAt: at(2), host: 'web-2', rule: 'web/a', state: 'awaiting-approval' }));
      await store.putHeal(heal('w3', { createdAt: at(3), host: 'web-1', rule: 'web/b', state: 'failed', finishedAt: at(4) }));
      await store.putHeal(heal('w4', { createdAt: at(3), host: 'web-2', rule: 'web/b' }));
      expect((await store.listHeals()).map((h) => h.id)).toEqual(['w4', 'w3', 'w2', 'w1']);
      expect((await store.listHeals({ state: 'dispatched' })).map((h) => h.id)).toEqual(['w4', 'w1']);
      expect((await store.listHeals({ host: 'web-1' })).map((h) => h.id)).toEqual(['w3', 'w1']);
      expect((await store.listHeals({ rule: 'web/a' })).map((h) => h.id)).toEqual(['w2', 'w1']);
      expect((await store.listHeals({ since: at(2) })).map((h) => h.id)).toEqual(['w4', 'w3', 'w2']);
      expect((await store.listHeals({ rule: 'web/b', host: 'web-2', state: 'dispatched' })).map((h) => h.id)).toEqual(['w4']);
      expect((await store.listHeals({ limit: 1 })).map((h) => h.id)).toEqual(['w4']);
      expect((await store.listHeals({ since: at(2), limit: 2 })).map((h) => h.id)).toEqual(['w4', 'w3']);
    });

    it('keeps small named state, and putting undefined deletes it', async () => {
      expect(await store.getState('pause')).toBeUndefined();
      await store.putState('pause', { by: 'ops', at: at(1), reason: 'deploy' });
      await store.putState('breakers', [{ rule: 'r', host: 'h', failures: [1, 2], openedAt: null, lastUnhealthyAt: null }]);
      expect(await store.getState('pause')).toEqual({ by: 'ops', at: at(1), reason: 'deploy' });
      expect(await store.getState('breakers')).toEqual([{ rule: 'r', host: 'h', failures: [1, 2], openedAt: null, lastUnhealthyAt: null }]);
      await store.putState('pause', undefined);
      expect(await store.getState('pause')).toBeUndefined();
      expect(await store.getState('breakers')).toBeDefined();
      // Deleting what is not there is fine.
      await store.putState('notifications', undefined);
      expect(await store.getState('notifications')).toBeUndefined();
    });

    it('spends the one use of an enrollment token once, however many enroll with it at once', async () => {
      await store.addEnrollToken(enrollToken('t1'), at(0));
      const outs = await Promise.all(['a1', 'a2', 'a3', 'a4', 'a5'].map((id) => enroll(store, 'hash-of-t1', id)));
      expect(outs.filter((o) => o.ok)).toHaveLength(1);
      expect(outs.filter((o) => !o.ok).map((o) => !o.ok && o.reason)).toEqual(['used', 'used', 'used', 'used']);
      const winner = outs.findIndex((o) => o.ok);
      expect((await store.listAgentCredentials()).map((c) => [c.id, c.enrolledWith])).toEqual([[`a${winner + 1}`, 't1']]);
    });

    it('enrolls agents at once with tokens of their own, losing none of them', async () => {
      for (let i = 0; i < 8; i++) await store.addEnrollToken(enrollToken(`t${i}`), at(0));
      const outs = await Promise.all(Array.from({ length: 8 }, (_, i) => enroll(store, `hash-of-t${i}`, `agent-${i}`)));
      expect(outs.every((o) => o.ok)).toBe(true);
      expect((await store.listAgentCredentials()).map((c) => c.id).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `agent-${i}`));
    });

    it('says why an enrollment is refused, and a refused one spends no use', async () => {
      await store.addEnrollToken(enrollToken('t2', { usesLeft: 2 }), at(0));
      await store.addEnrollToken(enrollToken('old', { expiresAt: at(5) }), at(0));
      expect(await enroll(store, 'hash-of-nothing', 'x')).toEqual({ ok: false, reason: 'unknown-token' });
      expect(await enroll(store, 'hash-of-old', 'x')).toEqual({ ok: false, reason: 'expired', expiresAt: at(5) });
      expect((await enroll(store, 'hash-of-t2', 'web-1')).ok).toBe(true);
      expect(await enroll(store, 'hash-of-t2', 'web-1')).toEqual({ ok: false, reason: 'enrolled' });
      const second = await enroll(store, 'hash-of-t2', 'web-2');
      expect(second.ok && second.token.usesLeft).toBe(0);
      expect(await enroll(store, 'hash-of-t2', 'web-3')).toEqual({ ok: false, reason: 'used' });
      expect(await store.getAgentClaim('web-1')).toMatchObject({ id: 'web-1', kind: 'enrolled', token: null });
    });

    it('revokes a credential once; credentials changed after a rev come in rev order', async () => {
      await store.addEnrollToken(enrollToken('t3', { usesLeft: 3 }), at(0));
      for (const id of ['c1', 'c2', 'c3']) await enroll(store, 'hash-of-t3', id);
      const all = await store.listAgentCredentials();
      expect(all.map((c) => c.id)).toEqual(['c1', 'c2', 'c3']);
      const mark = all[all.length - 1].rev;
      const revoked = await store.revokeAgentCredential('c1', 'ops', at(20));
      expect(revoked).toMatchObject({ id: 'c1', revokedAt: at(20), revokedBy: 'ops' });
      expect(revoked!.rev).toBeGreaterThan(mark);
      expect(await store.revokeAgentCredential('c1', 'ops', at(21))).toBeUndefined();
      expect(await store.revokeAgentCredential('nobody', 'ops', at(21))).toBeUndefined();
      expect((await store.listAgentCredentials(mark)).map((c) => [c.id, c.revokedBy])).toEqual([['c1', 'ops']]);
      expect((await store.getAgentCredential('c1'))?.revokedAt).toBe(at(20));
      // Enrolled again after the revocation: a new credential, a newer rev.
      await store.addEnrollToken(enrollToken('t4'), at(0));
      expect((await enroll(store, 'hash-of-t4', 'c1')).ok).toBe(true);
      expect((await store.listAgentCredentials(revoked!.rev)).map((c) => [c.id, c.revokedAt])).toEqual([['c1', null]]);
    });

    it('claims an id for the first token, holds it against another, and bounds the ids per token', async () => {
      expect(await store.claimAgentId(claim('web-1', 'fleet'), 2)).toEqual({ outcome: 'claimed', claim: claim('web-1', 'fleet') });
      expect(await store.claimAgentId(claim('web-1', 'other', { from: '10.9.9.9' }), 2)).toEqual({ outcome: 'held', claim: claim('web-1', 'fleet') });
      expect((await store.claimAgentId(claim('web-1', 'fleet'), 2)).outcome).toBe('held');
      expect((await store.claimAgentId(claim('web-2', 'fleet'), 2)).outcome).toBe('claimed');
      expect(await store.claimAgentId(claim('web-3', 'fleet'), 2)).toEqual({ outcome: 'limit', count: 2 });
      expect((await store.claimAgentId(claim('web-3', 'other'), 2)).outcome).toBe('claimed');
      expect(await store.forgetAgentClaim('web-1')).toBe(true);
      expect(await store.forgetAgentClaim('web-1')).toBe(false);
      expect(await store.getAgentClaim('web-1')).toBeUndefined();
      expect((await store.claimAgentId(claim('web-4', 'fleet'), 2)).outcome).toBe('claimed');
      // Two tokens claiming one new id at once: one wins, the other sees the winner's claim.
      const race = await Promise.all([
        store.claimAgentId(claim('web-9', 'fleet', { at: at(5) }), 100),
        store.claimAgentId(claim('web-9', 'other', { at: at(5) }), 100),
      ]);
      expect(race.map((r) => r.outcome).sort()).toEqual(['claimed', 'held']);
      const tokens = race.map((r) => (r.outcome === 'limit' ? '' : r.claim.token));
      expect(tokens[0]).toBe(tokens[1]);
    });

    it('forgetting an id drops its claim and a revoked credential, never an unrevoked one', async () => {
      await store.addEnrollToken(enrollToken('t5', { usesLeft: 2 }), at(0));
      await enroll(store, 'hash-of-t5', 'gone');
      await enroll(store, 'hash-of-t5', 'live');
      await store.revokeAgentCredential('gone', 'ops', at(30));
      expect(await store.forgetAgentClaim('gone')).toBe(true);
      expect(await store.getAgentCredential('gone')).toBeUndefined();
      expect(await store.getAgentClaim('gone')).toBeUndefined();
      expect(await store.forgetAgentClaim('live')).toBe(true); // its claim
      expect((await store.getAgentCredential('live'))?.revokedAt).toBeNull();
      expect(await store.forgetAgentClaim('live')).toBe(false);
      // A credential enrolled after the forget still gets a rev no poller has seen.
      const mark = Math.max(...(await store.listAgentCredentials()).map((c) => c.rev));
      await store.addEnrollToken(enrollToken('t6'), at(0));
      await enroll(store, 'hash-of-t6', 'new');
      expect((await store.listAgentCredentials(mark)).map((c) => c.id)).toEqual(['new']);
    });

    if (durable)
      it('identities survive a close and reopen', async () => {
        await store.addEnrollToken(enrollToken('t7', { usesLeft: 2 }), at(0));
        await enroll(store, 'hash-of-t7', 'kept');
        await store.claimAgentId(claim('shared-1', 'fleet'), 10);
        await store.close();
        store = await sut.reopen!();
        expect((await store.getAgentCredential('kept'))?.hash).toBe('cred-of-kept');
        expect(await store.getAgentClaim('shared-1')).toEqual(claim('shared-1', 'fleet'));
        expect(await store.claimAgentId(claim('shared-2', 'fleet'), 1)).toEqual({ outcome: 'limit', count: 1 });
        expect((await enroll(store, 'hash-of-t7', 'kept-2')).ok).toBe(true);
        expect(await enroll(store, 'hash-of-t7', 'kept-3')).toEqual({ ok: false, reason: 'used' });
      });

    if (durable)
      it('after flush(), everything written survives a close and reopen', async () => {
        await store.putHost(host('web-1'));
        for (let i = 0; i < 50; i++) void store.putAlert(alert(`a${i}`, { startsAt: at(i) }));
        void store.putHeal(heal('w1', { state: 'awaiting-approval' }));
        void store.putState('pause', { by: 'ops', at: at(0), reason: '' });
        await store.flush();
        await store.putState('pause', undefined);
        await store.close();
        store = await sut.reopen!();
        expect(await store.listHosts()).toHaveLength(1);
        expect(await store.listAlerts()).toHaveLength(50);
        expect((await store.listAlerts({ limit: 1 }))[0].id).toBe('a49');
        expect((await store.getHeal('w1'))?.state).toBe('awaiting-approval');
        expect(await store.getState('pause')).toBeUndefined();
      });

    if (durable)
      it('close() writes what is pending and can be called once the work is done', async () => {
        void store.putHeal(heal('w-last'));
        await store.close();
        store = await sut.reopen!();
        expect((await store.getHeal('w-last'))?.id).toBe('w-last');
      });
  });
}
