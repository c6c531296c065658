import { beforeEach, describe, expect, it } from 'vitest';
import { RemoteError, type Cluster } from '../../../../controller/cluster/cluster.js';
import { Coordinator } from '../../../../controller/cluster/coordinator.js';
import type { OwnerRequest } from '../../../../controller/fleet.js';
import type { Core } from '../../../../controller/core.js';
import { createLogger } from '../../../../protocol/index.js';

/**
 * The coordinator talks to PostgreSQL only through Cluster, so a Cluster that answers from
 * plain data (and records what it was asked) tests it without a database.
 */
class FakeCluster {
  readonly id = 'c-here';
  readonly handlers = new Map<string, (body: unknown, from: string) => unknown>();
  readonly released: string[] = [];
  readonly calls: { to: string; kind: string; body: unknown; timeoutMs?: number }[] = [];
  previous: { previous: string; alive: boolean } | undefined;
  owners = new Map<string, { controller: string; alive: boolean }>();
  /** What a remote controller answers (or throws). */
  answer: (kind: string, body: unknown) => Promise<unknown> = async () => undefined;

  on(kind: string, handler: (body: unknown, from: string) => unknown) {
    this.handlers.set(kind, handler);
    return this;
  }
  release(host: string) {
    this.released.push(host);
  }
  async claimHost(_host: string) {
    return this.previous;
  }
  async ownerOf(host: string) {
    return this.owners.get(host);
  }
  async call(to: string, kind: string, body: unknown, timeoutMs?: number) {
    this.calls.push({ to, kind, body, timeoutMs });
    return this.answer(kind, body);
  }
}

/** The parts of Core the coordinator drives; each call is written to `did`. */
function fakeCore(did: string[], adopt: (host: string) => Promise<void> = async () => undefined) {
  return {
    releaseHost: async (host: string) => {
      did.push(`release ${host}`);
      return { heals: ['w1', 'w2'], alerts: 3 };
    },
    adoptHost: async (host: string, how: string) => {
      await adopt(host);
      did.push(`adopt ${host} ${how}`);
      return { heals: 2, alerts: 1 };
    },
    heal: {
      approve: async (id: string, by: string, comment: string) => {
        did.push(`approve ${id} ${by} ${comment}`);
        return { id, state: 'dispatched' };
      },
      reject: async (id: string, by: string, comment: string) => {
        did.push(`reject ${id} ${by} ${comment}`);
        return { id, state: 'rejected' };
      },
      resetBreaker: async (rule: string, host: string, by: string) => {
        did.push(`reset ${rule} ${host} ${by}`);
        return true;
      },
    },
    alerting: {
      acknowledge: async (id: string, by: string, comment: string) => {
        did.push(`ack ${id} ${by} ${comment}`);
        return id === 'gone' ? undefined : { id, ack: { by } };
      },
    },
  } as unknown as Core;
}

describe('cluster coordinator', () => {
  let cluster: FakeCluster;
  let did: string[];
  let logs: { level: number; msg: string }[];
  let disconnected: { host: string; reason: string }[];
  let reloaded: string[];
  let adoptGate: Promise<void>;

  const make = (takeTimeoutMs?: number) =>
    new Coordinator({
      cluster: cluster as unknown as Cluster,
      core: () => fakeCore(did, () => adoptGate),
      disconnect: (host, reason) => disconnected.push({ host, reason }),
      reloadState: async (key) => {
        reloaded.push(key);
      },
      read: { heal: async (id) => ({ read: 'heal', id }), alert: async (id) => ({ read: 'alert', id }) },
      log: createLogger('test', 'debug', (l) => logs.push(JSON.parse(l) as { level: number; msg: string })),
      takeTimeoutMs,
    });
  const handle = (kind: string, body: unknown, from = 'c-other') => cluster.handlers.get(kind)!(body, from);

  beforeEach(() => {
    cluster = new FakeCluster();
    did = [];
    logs = [];
    disconnected = [];
    reloaded = [];
    adoptGate = Promise.resolve();
  });

  it('lets go of a host another controller takes: releases it, hands over its work, drops the agent link', async () => {
    make();
    const out = await handle('take', { host: 'web-1' }, 'c-new');
    expect(cluster.released).toEqual(['web-1']);
    expect(did).toEqual(['release web-1']);
    expect(disconnected).toEqual([{ host: 'web-1', reason: 'host moved to controller c-new' }]);
    expect(out).toEqual({ heals: ['w1', 'w2'], alerts: 3 });
  });

  it('reloads a shared state record another controller changed', async () => {
    make();
    await handle('state', { key: 'pause' });
    expect(reloaded).toEqual(['pause']);
  });

  it('carries out an operator request forwarded by another controller, answering with the record id only', async () => {
    make();
    expect(await handle('owner', { kind: 'approve', id: 'w7', by: 'alice', comment: 'ok' })).toEqual({ id: 'w7' });
    expect(await handle('owner', { kind: 'ack', id: 'a1', by: 'bob', comment: '' })).toEqual({ id: 'a1' });
    expect(await handle('owner', { kind: 'ack', id: 'gone', by: 'bob', comment: '' })).toBeNull();
    expect(await handle('owner', { kind: 'breaker-reset', rule: 'web/r', host: 'h1', by: 'carol' })).toBe(true);
    expect(did).toEqual(['approve w7 alice ok', 'ack a1 bob ', 'ack gone bob ', 'reset web/r h1 carol']);
  });

  it('claims a host nobody else held without any take-over', async () => {
    const c = make();
    await c.claim('web-1');
    await c.ready('web-1');
    expect(cluster.calls).toEqual([]);
    expect(did).toEqual([]);
  });

  it('takes a host over from a live controller: asks it to let go first, then adopts the open work', async () => {
    cluster.previous = { previous: 'c-old', alive: true };
    cluster.answer = async () => {
      did.push('c-old let go');
      return { heals: [], alerts: 0 };
    };
    const c = make(2_000);
    await c.claim('web-1');
    await c.ready('web-1');
    expect(cluster.calls).toEqual([{ to: 'c-old', kind: 'take', body: { host: 'web-1' }, timeoutMs: 2_000 }]);
    expect(did).toEqual(['c-old let go', 'adopt web-1 connected']);
  });

  it('adopts anyway when the previous controller does not let go, and says so', async () => {
    cluster.previous = { previous: 'c-old', alive: true };
    cluster.answer = async () => {
      throw new RemoteError('CLUSTER_OWNER_UNAVAILABLE', 'controller c-old did not answer take within 5s');
    };
    const c = make();
    await c.claim('web-1');
    await c.ready('web-1');
    expect(cluster.calls[0].timeoutMs).toBe(5_000);
    expect(did).toEqual(['adopt web-1 connected']);
    expect(logs.some((l) => l.msg === 'previous controller did not let go of the host; adopting it anyway')).toBe(true);
  });

  it('does not ask a dead controller to let go: adopts at once', async () => {
    cluster.previous = { previous: 'c-dead', alive: false };
    const c = make();
    await c.claim('web-1');
    await c.ready('web-1');
    expect(cluster.calls).toEqual([]);
    expect(did).toEqual(['adopt web-1 connected']);
  });

  it('holds messages from the agent until the take-over is complete (ready)', async () => {
    cluster.previous = { previous: 'c-dead', alive: false };
    let finish!: () => void;
    adoptGate = new Promise((r) => {
      finish = r;
    });
    const c = make();
    await c.claim('web-1');
    let isReady = false;
    const waiting = c.ready('web-1').then(() => {
      isReady = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(isReady).toBe(false);
    await c.ready('web-2'); // another host waits for nothing
    finish();
    await waiting;
    expect(did).toEqual(['adopt web-1 connected']);
  });

  it('logs a failed take-over instead of throwing, and does not leave the agent waiting', async () => {
    cluster.previous = { previous: 'c-dead', alive: false };
    adoptGate = Promise.reject(new Error('store unavailable'));
    const c = make();
    await c.claim('web-1');
    await expect(c.ready('web-1')).resolves.toBeUndefined();
    expect(logs.find((l) => l.msg === 'taking over a host failed')).toMatchObject({ level: 50, host: 'web-1', err: 'store unavailable' });
  });

  it('adopts the hosts of a dead controller as orphans, and releases hosts it lost', async () => {
    const c = make();
    await c.adopted(['a', 'b']);
    await c.lost(['c']);
    expect(did).toEqual(['adopt a orphaned', 'adopt b orphaned', 'release c']);
  });

  describe('an operator request on a host', () => {
    const approve: OwnerRequest = { kind: 'approve', id: 'w7', by: 'alice', comment: 'go' };

    it('runs here when this controller owns the host, or nobody does', async () => {
      const c = make();
      cluster.owners.set('mine', { controller: 'c-here', alive: true });
      expect(await c.onOwner('mine', approve)).toEqual({ id: 'w7', state: 'dispatched' });
      expect(await c.onOwner('unowned', { kind: 'reject', id: 'w8', by: 'bob', comment: 'no' })).toEqual({ id: 'w8', state: 'rejected' });
      expect(cluster.calls).toEqual([]);
    });

    it('is forwarded to the owner, and the changed record is read back', async () => {
      const c = make();
      cluster.owners.set('theirs', { controller: 'c-other', alive: true });
      cluster.answer = async (_kind, body) => ({ id: (body as { id: string }).id });
      expect(await c.onOwner('theirs', approve)).toEqual({ read: 'heal', id: 'w7' });
      expect(await c.onOwner('theirs', { kind: 'ack', id: 'a1', by: 'bob', comment: '' })).toEqual({ read: 'alert', id: 'a1' });
      expect(cluster.calls.map((x) => [x.to, x.kind, x.body])).toEqual([
        ['c-other', 'owner', approve],
        ['c-other', 'owner', { kind: 'ack', id: 'a1', by: 'bob', comment: '' }],
      ]);
      expect(did).toEqual([]);
    });

    it('passes a forwarded answer without an id through as it is', async () => {
      const c = make();
      cluster.owners.set('theirs', { controller: 'c-other', alive: true });
      cluster.answer = async () => true;
      expect(await c.onOwner('theirs', { kind: 'breaker-reset', rule: 'web/r', host: 'theirs', by: 'carol' })).toBe(true);
    });

    it('is refused (CLUSTER_OWNER_UNAVAILABLE: a 503) while the owner is dead and not yet adopted, saying to retry', async () => {
      const c = make();
      cluster.owners.set('stuck', { controller: 'c-dead', alive: false });
      const err = await c.onOwner('stuck', approve).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RemoteError);
      expect(err).toMatchObject({
        code: 'CLUSTER_OWNER_UNAVAILABLE',
        message: expect.stringContaining('controller c-dead, which holds stuck, is not answering'),
      });
      expect(cluster.calls).toEqual([]);
      expect(did).toEqual([]);
    });
  });
});
