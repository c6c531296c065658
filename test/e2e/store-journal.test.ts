import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Fleet } from '../helpers/fleet.js';
import { stopAll, tcpAnswers, waitFor } from '../helpers/procs.js';

interface Heal { id: string; state: string; steps: { ackedAt: string | null }[] }
interface Host { id: string; connected: boolean }

// A controller whose store journals every write-ahead (as one with thousands of hosts does),
// killed while the agent runs the step: the work order is followed up once, not lost or re-run.
describe('lowdb store journalling, end to end', () => {
  const fleet = new Fleet();
  afterAll(async () => {
    await stopAll();
    await fleet.cleanup();
  });

  it('a controller killed mid-heal with a journalling store loses no work order and runs nothing twice', async () => {
    fleet.rule('rel', 'svc-down', { when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] }, heal: { action: 'service.restart', params: { service: 'svc' } } });
    const store = { store: { type: 'lowdb', journalAboveBytes: 0 } };
    await fleet.startController(store);
    const svc = await fleet.service('svc');
    const count = join(fleet.dir, 'restarts');
    const argv = ['sh', '-c', 'echo x >> "$0"; sleep 2; shift; exec "$@"', count, 'next', ...svc.restart];
    fleet.startAgent('j1', { services: [{ name: 'svc', probe: { tcp: `127.0.0.1:${svc.port}` }, probeInterval: '250ms', restart: argv }] });
    await waitFor('agent', async () => (await fleet.api<Host[]>('/api/v1/hosts')).some((h) => h.connected));
    process.kill(svc.pid(), 'SIGKILL');
    const order = await waitFor('the step accepted by the agent', async () => (await fleet.api<Heal[]>('/api/v1/heals?host=j1')).find((h) => h.steps[0]?.ackedAt), 10_000);
    await fleet.controller!.stop('SIGKILL');
    await fleet.startController(store);
    const done = await waitFor('the work order to finish', async () => {
      const h = await fleet.api<Heal>(`/api/v1/heals/${order.id}`);
      return h.state !== 'dispatched' && h;
    }, 20_000);
    expect(done.state).toBe('succeeded');
    expect(await tcpAnswers(svc.port)).toBe(true);
    expect(readFileSync(count, 'utf8').trim().split('\n')).toHaveLength(1);
    expect((await fleet.api<Heal[]>('/api/v1/heals')).length).toBe(1);
  }, 60_000);
});
