import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Cluster } from '../../controller/cluster/cluster.js';
import { PostgresStore } from '../../controller/store/postgres.js';
import { silentLogger } from '../../protocol/index.js';
import { AGENT_TOKEN, Fleet } from '../helpers/fleet.js';
import type { HealView } from '../helpers/heal.js';
import { CLUSTER_SECRET, postgresMissing, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { ClusterSecret } from '../../controller/security/cluster-secret.js';
import { stopAll, waitFor, type Proc } from '../helpers/procs.js';
import { SimAgent } from '../helpers/sim-agent.js';

interface HostView {
  id: string;
  connected: boolean;
  up: boolean;
}
interface AlertView {
  id: string;
  rule: string;
  host: string;
  state: string;
}
type Order = HealView & { history: { state: string; note: string }[]; trigger: string; createdAt: string };

const serviceDown = (svc: string) => ({ all: [{ fact: 'service', path: `$.${svc}.up`, operator: 'equal', value: false }] });
const NEVER = '0 0 1 1 *';

/**
 * Two controllers on one PostgreSQL, with agents spread over them: what one controller
 * records, the other shows; an approval given through either reaches the heal wherever its
 * host is connected; the fleet-wide limit counts heals on both; a scheduled job runs each host
 * once per tick; and when a controller is killed, its agents move to the other, which finishes
 * the work orders that were open and decides host-down once for hosts that did not come back.
 */
describe.skipIf(postgresMissing())('several controllers on one PostgreSQL', () => {
  let server: TestPostgres;
  const a = new Fleet();
  const b = new Fleet();
  const sims: SimAgent[] = [];
  let real: Proc;

  const sim = async (fleet: Fleet, id: string, labels: Record<string, string>, services: Record<string, boolean> = {}, intervalMs = 60_000) => {
    const s = new SimAgent(fleet.url, AGENT_TOKEN, id, labels, intervalMs);
    // Both controllers sign with the one key in the database: a host moved between them still runs.
    s.signingKey = a.signingKey;
    for (const [name, up] of Object.entries(services)) s.services[name] = { up, since: Date.now() };
    s.reconnect = { minMs: 100, maxMs: 500 };
    sims.push(s);
    await s.connect();
    return s;
  };
  const post = (fleet: Fleet, path: string, body: unknown = {}) =>
    fleet.fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const heals = (fleet: Fleet, q = '') => fleet.api<Order[]>(`/api/v1/heals${q}`);

  beforeAll(async () => {
    server = await startPostgres();
    for (const fleet of [a, b]) {
      fleet.rule('cl', 'appr-down', {
        hosts: { role: 'appr' },
        when: serviceDown('appr'),
        severity: 'critical',
        heal: { action: 'service.restart', params: { service: 'appr' }, approval: 'required', verifyWithin: '5s' },
      });
      fleet.rule('cl', 'pool-down', {
        hosts: { role: 'pool' },
        when: serviceDown('svc'),
        severity: 'critical',
        heal: { action: 'service.restart', params: { service: 'svc' }, maxConcurrent: 10, timeout: '2s', maxPerHour: 1 },
      });
      fleet.rule('cl', 'tick', {
        schedule: '*/2 * * * * *',
        hosts: { role: 'tick' },
        heal: { action: 'script.run', params: { name: 'mark' }, maxPerHour: 1000 },
      });
      fleet.rule('cl', 'slow', {
        schedule: NEVER,
        hosts: { role: 'fo' },
        heal: { action: 'script.run', params: { name: 'slow' }, timeout: '30s' },
      });
    }
    const cluster = (id: string) => ({
      store: { type: 'postgres', url: server.url },
      cluster: { id, heartbeat: '300ms', expireAfter: '1500ms', secret: CLUSTER_SECRET },
      heal: { maxConcurrent: 2 },
      hostDownAfter: '3s',
    });
    await a.startController(cluster('A'));
    await b.startController(cluster('B'));
  }, 120_000);

  afterAll(async () => {
    // A controller that crashed during the tests fails them all from then on: say why it died
    // (the failover test kills A by signal on purpose; a crash exits with a code).
    for (const [name, f] of [
      ['A', a],
      ['B', b],
    ] as const) {
      const c = f.controller?.child;
      if (c && c.exitCode !== null && c.exitCode !== 0)
        console.error(`controller ${name} exited ${c.exitCode} during the tests; the end of its log:\n${f.controller!.stderr().slice(-4000)}`);
    }
    for (const s of sims) s.stop();
    await stopAll();
    await a.cleanup();
    await b.cleanup();
    await server?.stop();
  }, 60_000);

  it('shows every host on both controllers, whichever one its agent is connected to', async () => {
    await sim(a, 'appr-1', { role: 'appr' }, { appr: true });
    await sim(b, 'other-1', { role: 'none' });
    for (const fleet of [a, b]) {
      await waitFor('both hosts on both controllers', async () => {
        const hosts = await fleet.api<HostView[]>('/api/v1/hosts');
        return ['appr-1', 'other-1'].every((id) => hosts.find((h) => h.id === id)?.connected);
      });
    }
  });

  it('a fault on a host of controller A, approved through controller B, is healed', async () => {
    const agent = sims.find((s) => s.id === 'appr-1')!;
    agent.healOnRun = true;
    agent.setService('appr', false);
    // The order waits on A; B's API shows it (the records are shared).
    const waiting = await waitFor(
      'a work order awaiting approval, seen through B',
      async () => (await heals(b, '?state=awaiting-approval')).find((h) => h.host === 'appr-1'),
      15_000,
    );
    const approved = await post(b, `/api/v1/heals/${waiting.id}/approve`, { comment: 'go' });
    expect(approved.status).toBe(200);
    // The reply tells the decision; its reason may already be the heal's outcome (the sim heals at once).
    const reply = (await approved.json()) as Order & { approval: { decision: string; by: string; comment: string } };
    expect(reply.approval).toMatchObject({ decision: 'approved', by: 'anonymous', comment: 'go' });
    expect(reply.history.some((e) => e.state === 'approved' && e.note === 'approved by anonymous: go')).toBe(true);
    const done = await waitFor(
      'the heal succeeded',
      async () => {
        const h = (await heals(b)).find((x) => x.id === waiting.id);
        return h && h.state !== 'dispatched' ? h : undefined;
      },
      20_000,
    );
    expect(done.state).toBe('succeeded');
    expect(agent.runs.map((r) => r.id)).toEqual([`${waiting.id}.0`]);
    // Approving it again through A: a conflict, not a second run.
    expect((await post(a, `/api/v1/heals/${waiting.id}/approve`)).status).toBe(404);
    // Through B it is forwarded to A, whose answer keeps its code: not "owner unavailable" (503).
    const again = await post(b, `/api/v1/heals/${waiting.id}/approve`);
    expect({ status: again.status, code: ((await again.json()) as { error: { code: string } }).error.code }).toEqual({ status: 404, code: 'HEAL_NOT_FOUND' });
    expect((await post(b, '/api/v1/heals/no-such-order/approve')).status).toBe(404);
  });

  it('the fleet-wide limit counts heals in flight on both controllers', async () => {
    const pool: SimAgent[] = [];
    for (const [fleet, id] of [
      [a, 'p1'],
      [a, 'p2'],
      [b, 'p3'],
      [b, 'p4'],
    ] as const) {
      const s = await sim(fleet, id, { role: 'pool' }, { svc: true });
      s.hold = true; // each restart keeps running: its heal stays in flight
      pool.push(s);
    }
    for (const s of pool) s.setService('svc', false);
    const orders = await waitFor(
      'a work order for each of the four hosts',
      async () => {
        const list = (await heals(a, '?rule=cl%2Fpool-down')).filter((h) => h.host.startsWith('p'));
        return new Set(list.map((h) => h.host)).size === 4 ? list : undefined;
      },
      20_000,
    );
    const sent = orders.filter((h) => h.state === 'dispatched').map((h) => h.host);
    const held = orders.filter((h) => h.state === 'skipped');
    expect(sent).toHaveLength(2);
    expect(held.length).toBeGreaterThanOrEqual(2);
    for (const h of held) expect(h.reason).toMatch(/^fleet-wide limit 2 \(2 of \d+ hosts\) reached: healing p\d, p\d/);
    // An order is written before its instruction leaves (so the other controller counts it): wait for both to arrive.
    await waitFor('the two instructions at their agents', () => sent.every((h) => pool.find((s) => s.id === h)!.runs.length > 0), 10_000);
    // The instructions that left match the orders: two hosts ran one each, the others nothing.
    expect(
      pool
        .filter((s) => s.runs.length > 0)
        .map((s) => s.id)
        .sort(),
    ).toEqual([...sent].sort());
    expect(pool.reduce((n, s) => n + s.runs.length, 0)).toBe(2);
    // The held heals end honestly: no result came, so they time out (and free the fleet's slots).
    for (const s of pool) s.stop();
    const ended = await waitFor(
      'the held heals timed out',
      async () => {
        const list = (await heals(b, '?rule=cl%2Fpool-down')).filter((h) => sent.includes(h.host) && h.state !== 'skipped');
        return list.every((h) => h.state !== 'dispatched') && list.length >= 2 ? list : undefined;
      },
      30_000,
    );
    for (const h of ended.filter((x) => sent.includes(x.host) && x.history.some((e) => e.state === 'dispatched'))) {
      expect(h.state).toBe('timed-out');
      expect(h.reason).toMatch(/no result for step 1 \(service\.restart\) within 7s of dispatch/);
    }
    await waitFor('no heal in flight fleet-wide', async () => (await heals(a, '?state=dispatched')).length === 0, 20_000);
  }, 60_000);

  it('a scheduled job runs each host once per tick across both controllers', async () => {
    await sim(a, 't1', { role: 'tick' });
    await sim(b, 't2', { role: 'tick' });
    const seen = await waitFor(
      'three ticks on both hosts',
      async () => {
        const list = (await heals(b, '?rule=cl%2Ftick')).filter((h) => h.state === 'succeeded');
        return ['t1', 't2'].every((h) => list.filter((x) => x.host === h).length >= 3) ? list : undefined;
      },
      30_000,
    );
    for (const host of ['t1', 't2']) {
      const times = seen
        .filter((h) => h.host === host)
        .map((h) => Date.parse(h.createdAt))
        .sort((x, y) => x - y);
      // Ticks are 2 s apart: two orders within one tick would be a second run.
      for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBeGreaterThan(1000);
    }
  }, 60_000);

  it('a lease lets exactly one controller run a host at a fire time, however many try at once', async () => {
    const stores = await Promise.all([0, 1, 2].map(() => PostgresStore.open({ url: server.url, log: silentLogger })));
    const clusters = await Promise.all(
      stores.map((store, i) =>
        Cluster.start({
          store,
          id: `lease-${i}`,
          url: 'x',
          log: silentLogger,
          heartbeatMs: 60_000,
          expireMs: 120_000,
          secret: new ClusterSecret(CLUSTER_SECRET),
        }),
      ),
    );
    const hosts = Array.from({ length: 50 }, (_, i) => `h${i}`);
    const won = await Promise.all(clusters.map((c) => c.claimRuns('cl/lease', '2026-01-01T00:00:00.000Z', hosts)));
    expect(won.flat().sort()).toEqual([...hosts].sort());
    expect(await clusters[0].claimRuns('cl/lease', '2026-01-01T00:00:00.000Z', hosts)).toEqual([]);
    for (const c of clusters) await c.stop();
    for (const s of stores) await s.close();
  });

  it('killing a controller moves its agents to the other, which finishes their open work orders and decides host-down once', async () => {
    const fleetOf = { A: a, B: b } as const;
    const gate = join(a.dir, 'slow-gate');
    real = a.startAgent('fo-1', {
      controller: [`ws://127.0.0.1:${a.port}`, `ws://127.0.0.1:${b.port}`],
      labels: { role: 'fo' },
      // Runs until the test opens its gate (at most 30 s), so the test sees it running for as long as it needs.
      scripts: { slow: ['sh', '-c', 'i=0; while [ ! -e "$0" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done', gate] },
      reconnect: { min: '100ms', max: '500ms' },
    });
    const db = new pg.Client({ connectionString: server.url });
    await db.connect();
    try {
      const ownerOf = async (host: string) =>
        (await db.query<{ controller: 'A' | 'B' }>('SELECT controller FROM laas_host_owners WHERE host = $1', [host])).rows[0]?.controller;
      const first = await waitFor('the real agent connected to a controller', () => ownerOf('fo-1'), 20_000);
      const victim = fleetOf[first];
      const survivor = fleetOf[first === 'A' ? 'B' : 'A'];
      // A host that will not come back: its agent is gone with the controller.
      const lonely = await sim(victim, 'lonely-1', { role: 'none' }, {}, 1000);

      expect((await post(victim, '/api/v1/rules/cl/slow/run')).status).toBe(200);
      const order = await waitFor(
        'the slow order acknowledged by the agent',
        async () =>
          (await heals(victim, '?rule=cl%2Fslow')).find(
            (h) => h.host === 'fo-1' && h.state === 'dispatched' && (h as unknown as { ackedAt: string | null }).ackedAt,
          ),
        15_000,
      );

      victim.controller!.child.kill('SIGKILL');
      await victim.controller!.exited;
      lonely.stop();
      writeFileSync(gate, '');

      // The agent finishes its script, reconnects to the survivor, and hands in its result there.
      await waitFor('the agent on the surviving controller', async () => (await ownerOf('fo-1')) !== first, 20_000);
      const done = await waitFor(
        'the open work order finished by the survivor',
        async () => {
          const h = (await heals(survivor, '?rule=cl%2Fslow')).find((x) => x.id === order.id);
          return h && h.state !== 'dispatched' ? h : undefined;
        },
        30_000,
      );
      expect(done.state).toBe('succeeded');
      expect(done.history.map((e) => e.state)).toContain('adopted');
      expect((await survivor.api<HostView[]>('/api/v1/hosts')).find((h) => h.id === 'fo-1')?.connected).toBe(true);

      // The host whose agent died with its controller goes down once, decided by the survivor.
      const down = await waitFor(
        'host-down for the lonely host',
        async () => {
          const list = (await survivor.api<AlertView[]>('/api/v1/alerts?state=firing')).filter((x) => x.rule === 'builtin/host-down' && x.host === 'lonely-1');
          return list.length ? list : undefined;
        },
        30_000,
      );
      expect(down).toHaveLength(1);
      expect(await ownerOf('lonely-1')).not.toBe(first);
      expect(real.child.exitCode).toBeNull();
    } finally {
      await db.end();
    }
  }, 120_000);

  it('every instruction the simulated agents got, from either controller, was signed with the key they pin', () => {
    expect(sims.reduce((n, s) => n + s.runs.length, 0)).toBeGreaterThan(0);
    expect(sims.flatMap((s) => s.badlySigned.map((r) => `${s.id}: ${r.id}`))).toEqual([]);
  });
});
