import { afterAll, describe, expect, it } from 'vitest';
import { AGENT_TOKEN, Fleet } from '../helpers/fleet.js';
import { stopAll, tcpAnswers, waitFor } from '../helpers/procs.js';
import { SimAgent } from '../helpers/sim-agent.js';

interface Heal {
  id: string;
  host: string;
  rule: string;
  state: string;
  reason: string;
  steps: { state: string; ackedAt: string | null }[];
}
const down = { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A controller killed (SIGKILL) while the agent runs the heal's step, then started again with the
 * same config: the work order is followed up once — not lost, not run twice.
 */
async function controllerKilledMidHeal(fleet: Fleet, host: string, controllerConfig: Record<string, unknown> = {}): Promise<void> {
  fleet.rule('rel', 'svc-down', { when: down, heal: { action: 'service.restart', params: { service: 'svc' } } });
  await fleet.startController(controllerConfig);
  const svc = await fleet.service('svc');
  const slow = fleet.slowRestart(svc.restart, 2);
  fleet.startAgent(host, { services: [{ name: 'svc', probe: { tcp: `127.0.0.1:${svc.port}` }, probeInterval: '250ms', restart: slow.argv }] });
  await fleet.hostConnected();
  process.kill(svc.pid(), 'SIGKILL');
  const order = await fleet.healAccepted<Heal>(host, 10_000);
  await fleet.controller!.stop('SIGKILL');
  await fleet.startController(controllerConfig);
  const done = await waitFor(
    'the work order to finish',
    async () => {
      const h = await fleet.api<Heal>(`/api/v1/heals/${order.id}`);
      return h.state !== 'dispatched' && h;
    },
    20_000,
  );
  expect(done.state).toBe('succeeded');
  expect(await tcpAnswers(svc.port)).toBe(true);
  expect(slow.runs()).toBe(1);
  expect((await fleet.api<Heal[]>('/api/v1/heals')).length).toBe(1);
}

// The same with a store that journals every write-ahead (as one with thousands of hosts does).
describe('lowdb store journalling, end to end', () => {
  const fleet = new Fleet();
  afterAll(async () => {
    await stopAll();
    await fleet.cleanup();
  });

  it('a controller killed mid-heal with a journalling store loses no work order and runs nothing twice', async () => {
    await controllerKilledMidHeal(fleet, 'j1', { store: { type: 'lowdb', journalAboveBytes: 0 } });
  }, 60_000);
});

describe('reliability under faults', () => {
  const fleet = new Fleet();
  afterAll(async () => {
    await stopAll();
    await fleet.cleanup();
  });

  it('a controller killed mid-heal loses no work order and runs nothing twice', async () => {
    await controllerKilledMidHeal(fleet, 'r1');
  });

  it('an agent killed during an action: the work order says so at once, not after a timeout', async () => {
    fleet.rule('rel', 'slow-down', {
      when: { all: [{ fact: 'service', path: '$.slow.up', operator: 'equal', value: false }] },
      heal: { action: 'service.restart', params: { service: 'slow' } },
    });
    await fleet.fetch('/api/v1/rules/reload', { method: 'POST' });
    const svc = await fleet.service('slow');
    const slow = fleet.slowRestart(svc.restart, 5);
    const cfg = { services: [{ name: 'slow', probe: { tcp: `127.0.0.1:${svc.port}` }, probeInterval: '250ms', restart: slow.argv }] };
    const agent = fleet.startAgent('r2', cfg);
    await fleet.hostConnected('r2', 15_000);
    process.kill(svc.pid(), 'SIGKILL');
    const order = await waitFor(
      'the step accepted',
      async () => (await fleet.api<Heal[]>('/api/v1/heals?host=r2')).find((h) => h.steps[0]?.ackedAt && h.state === 'dispatched'),
      10_000,
    );
    await agent.stop('SIGKILL');
    fleet.startAgent('r2', cfg); // stopped by fleet.cleanup()
    const done = await waitFor(
      'the work order to end',
      async () => {
        const h = await fleet.api<Heal>(`/api/v1/heals/${order.id}`);
        return h.state !== 'dispatched' && h;
      },
      10_000,
    );
    expect(done.state).toBe('failed');
    expect(done.reason).toBe('the agent on r2 restarted while running step 1 (service.restart); its result is lost');
  });

  it('a thousand agents reconnecting after a controller restart are spread out, and the controller stays responsive', async () => {
    const herd: SimAgent[] = [];
    try {
      for (let i = 0; i < 1000; i++) herd.push(new SimAgent(fleet.url, AGENT_TOKEN, `herd-${i}`, { role: 'herd' }, 60_000));
      for (let i = 0; i < herd.length; i += 100) await Promise.all(herd.slice(i, i + 100).map((a) => a.connect()));
      await fleet.controller!.stop('SIGKILL');
      const restartedAt = Date.now();
      await fleet.startController();
      // Responsive means every health check is answered while the herd arrives; how fast is a
      // figure for bench/ (printed below), not an assertion on a shared machine.
      let worstHealthMs = 0;
      const checks: Promise<boolean>[] = [];
      const probe = setInterval(() => {
        const t = Date.now();
        checks.push(
          fetch(`${fleet.url}/healthz`, { signal: AbortSignal.timeout(15_000) }).then(
            (r) => {
              worstHealthMs = Math.max(worstHealthMs, Date.now() - t);
              return r.ok;
            },
            () => false,
          ),
        );
      }, 100);
      try {
        await waitFor('the herd back', () => herd.every((a) => a.welcomed), 45_000, 100);
      } finally {
        clearInterval(probe);
      }
      const took = Date.now() - restartedAt;
      const answered = await Promise.all(checks);
      expect(answered.length).toBeGreaterThan(0);
      expect(answered.filter((ok) => !ok).length).toBe(0);
      expect((await fleet.api<{ agents: number }>('/healthz')).agents).toBeGreaterThanOrEqual(1000);
      process.stderr.write(
        `herd: 1000 agents back in ${took} ms; worst /healthz ${worstHealthMs} ms; refused upgrades: ${herd.reduce((n, a) => n + a.refusals.length, 0)}\n`,
      );
    } finally {
      for (const a of herd) a.stop();
      await sleep(200);
    }
  }, 90_000);
});
