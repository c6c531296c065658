import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../helpers/fleet.js';
import { maxOverlap, orders, serviceIs, type HealView } from '../helpers/heal.js';
import { stopAll, tcpAnswers, waitFor, type Proc } from '../helpers/procs.js';

type Service = Awaited<ReturnType<Fleet['service']>>;
interface Host {
  id: string;
  connected: boolean;
}

const RULE = 'pool/svc-down';
const HOSTS = Array.from({ length: 10 }, (_, i) => `h${i + 1}`);

/**
 * The blast-radius brake with real processes: ten agents, each watching its own service, all
 * hit by the same fault at once. The rule may heal 20% of its hosts at a time: never more than
 * two heals run together, the others wait their turn, and in the end every service is back.
 */
describe('safe healing: maxConcurrent on a fleet of ten', () => {
  const fleet = new Fleet();
  const services: Record<string, Service> = {};
  const agents: Proc[] = [];

  beforeAll(async () => {
    for (const h of HOSTS) services[h] = await fleet.service(`svc-${h}`);
    fleet.rule('pool', 'svc-down', {
      hosts: { role: 'pool' },
      when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] },
      severity: 'critical',
      heal: { action: 'service.restart', params: { service: 'svc' }, maxConcurrent: '20%' },
    });
    // Only the rule's limit binds: the fleet-wide one is set high.
    await fleet.startController({ heal: { maxConcurrent: 10 } });
    for (const h of HOSTS) {
      // A slow init script: each restart takes two seconds, so heals overlap.
      const restart = ['sh', '-c', 'sleep 2; exec "$0" "$@"', ...services[h].restart];
      agents.push(
        fleet.startAgent(h, {
          labels: { role: 'pool' },
          services: [{ name: 'svc', probe: { tcp: `127.0.0.1:${services[h].port}` }, probeInterval: '250ms', restart }],
        }),
      );
    }
    await waitFor(
      'ten agents connected',
      async () => {
        const dead = agents.find((a) => a.child.exitCode !== null);
        if (dead) throw new Error(`an agent exited ${dead.child.exitCode}: ${dead.stderr()}`);
        return (await fleet.api<Host[]>('/api/v1/hosts')).filter((h) => h.connected).length === HOSTS.length;
      },
      30_000,
    );
  }, 60_000);

  afterAll(async () => {
    await stopAll();
    await fleet.cleanup();
  });

  it('heals ten hosts with the same fault in rolling batches of two, and all come back', async () => {
    const oldPids = Object.fromEntries(HOSTS.map((h) => [h, services[h].pid()]));
    for (const h of HOSTS) process.kill(oldPids[h], 'SIGKILL');

    // Watch the work orders in progress while it runs.
    let maxInProgress = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const inProgress = (await fleet.api<HealView[]>(`/api/v1/heals?state=dispatched&rule=${encodeURIComponent(RULE)}`)).length;
        maxInProgress = Math.max(maxInProgress, inProgress);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await waitFor(
        'every host to be healed',
        async () => {
          const healed = new Set((await orders(fleet, RULE)).filter((o) => o.state === 'succeeded').map((o) => o.host));
          return healed.size === HOSTS.length;
        },
        50_000,
        250,
      );
    } finally {
      watching = false;
      await watcher;
    }

    for (const h of HOSTS) {
      expect(await tcpAnswers(services[h].port)).toBe(true);
      expect(services[h].pid()).not.toBe(oldPids[h]);
    }

    const all = await orders(fleet, RULE);
    const ran = all.filter((o) => o.dispatchedAt !== null);
    // Each host was healed exactly once, and nothing failed.
    expect(ran.map((o) => o.state)).toEqual(Array(HOSTS.length).fill('succeeded'));
    expect(ran.map((o) => o.host).sort()).toEqual([...HOSTS].sort());
    // Never more than two at once: from the recorded intervals, and as seen from outside.
    const intervals = ran.map((o) => ({ start: Date.parse(o.dispatchedAt!), end: Date.parse(o.finishedAt!) }));
    expect(maxOverlap(intervals)).toBe(2);
    expect(maxInProgress).toBeGreaterThanOrEqual(1);
    expect(maxInProgress).toBeLessThanOrEqual(2);

    // The others were held back with the reason, and retried when a slot freed.
    const skipped = all.filter((o) => o.state === 'skipped');
    expect(skipped.length).toBeGreaterThanOrEqual(HOSTS.length - 2);
    for (const o of skipped) {
      expect(o.reason).toMatch(new RegExp(`^maxConcurrent 20% \\(2 of 10 hosts\\) reached for ${RULE}: healing h\\d+, h\\d+; retried when one finishes$`));
      expect(o.dispatchedAt).toBeNull();
    }
    expect(all.filter((o) => !['succeeded', 'skipped'].includes(o.state))).toEqual([]);
    // Rolling batches: the last heal started well after the first ones finished.
    const starts = intervals.map((i) => i.start).sort((a, b) => a - b);
    const firstEnd = Math.min(...intervals.map((i) => i.end));
    expect(starts[2]).toBeGreaterThanOrEqual(firstEnd);
    for (const h of HOSTS) await serviceIs(services[h].port, true, 1000);
  }, 70_000);
});
