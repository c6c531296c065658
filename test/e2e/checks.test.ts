import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../helpers/fleet.js';
import { stopAll, tcpAnswers, waitFor, type Proc } from '../helpers/procs.js';

const CHECK_TCP = '/usr/lib/nagios/plugins/check_tcp';

interface Alert {
  id: string;
  rule: string;
  host: string;
  state: string;
  severity: string;
  summary: string;
  heals: string[];
}
interface Heal {
  state: string;
  action: string;
  params: Record<string, unknown>;
}

function pluginMissing(): boolean {
  if (existsSync(CHECK_TCP)) return false;
  const reason = `${CHECK_TCP} not found (install the Debian package "monitoring-plugins-standard")`;
  if (process.env.CI) throw new Error(`CI: ${reason}`);
  console.warn(`skipping the command-check end-to-end test: ${reason}`);
  return true;
}

/**
 * A real controller and agent as child processes, the agent running Debian's check_tcp against
 * a real service: kill the service, the check goes critical, the rule on the `check` fact fires
 * and heals with service.restart, the check is ok again and the alert resolves.
 */
describe.skipIf(pluginMissing())('a command check alerts and heals, end to end', () => {
  const fleet = new Fleet();
  let svc: Awaited<ReturnType<Fleet['service']>>;
  let agent: Proc;

  beforeAll(async () => {
    svc = await fleet.service('svc');
    fleet.rule('checks', 'svc-port-critical', {
      hosts: { role: 'web' },
      when: { all: [{ fact: 'check', path: "$['svc-port'].state", operator: 'equal', value: 'critical' }] },
      for: '0s',
      severity: 'critical',
      summary: 'check svc-port is critical on {{host}}',
      heal: { action: 'service.restart', params: { service: 'svc' }, maxPerHour: 5 },
    });
    await fleet.startController();
    agent = fleet.startAgent('web-1', {
      // The agent's own probe polls slowly: the check is what sees the death here.
      services: [{ name: 'svc', probe: { tcp: `127.0.0.1:${svc.port}` }, probeInterval: '1m', restart: svc.restart }],
      checks: [{ name: 'svc-port', command: [CHECK_TCP, '-H', '127.0.0.1', '-p', String(svc.port)], interval: '1s', timeout: '5s' }],
    });
    await waitFor('agent web-1 connected', async () =>
      (await fleet.api<{ id: string; connected: boolean }[]>('/api/v1/hosts')).find((h) => h.id === 'web-1' && h.connected),
    );
  });

  afterAll(async () => {
    await stopAll();
    await fleet.cleanup();
  });

  it('fires on critical, restarts the service, resolves when the check is ok again', async () => {
    process.kill(svc.pid(), 'SIGKILL');
    const firing = await waitFor('the check alert to fire', async () =>
      (await fleet.api<Alert[]>('/api/v1/alerts')).find((a) => a.rule === 'checks/svc-port-critical' && a.state !== 'pending'),
    );
    expect(firing).toMatchObject({ host: 'web-1', severity: 'critical', summary: 'check svc-port is critical on web-1' });

    await waitFor('the service to answer again', () => tcpAnswers(svc.port), 20_000);
    const resolved = await waitFor(
      'the alert to resolve',
      async () => (await fleet.api<Alert[]>('/api/v1/alerts?state=resolved')).find((a) => a.id === firing.id),
      20_000,
    );
    expect(resolved.heals).toHaveLength(1);
    const heal = await waitFor('the work order to succeed', async () => {
      const h = await fleet.api<Heal>(`/api/v1/heals/${resolved.heals[0]}`);
      return h.state === 'succeeded' && h;
    });
    expect(heal).toMatchObject({ action: 'service.restart', params: { service: 'svc' } });
    expect(agent.child.exitCode).toBeNull();
  });
});
