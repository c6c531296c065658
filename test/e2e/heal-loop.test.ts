import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../helpers/fleet.js';
import { stopAll, tcpAnswers, waitFor, type Proc } from '../helpers/procs.js';
import { startReceiver } from '../helpers/receiver.js';

interface Alert {
  id: string;
  rule: string;
  host: string;
  state: string;
  severity: string;
  startsAt: string;
  endsAt: string | null;
  summary: string;
  heals: string[];
}
interface Heal {
  id: string;
  rule: string;
  host: string;
  action: string;
  params: Record<string, unknown>;
  state: string;
  reason: string;
  result: { outcome: string; exitCode: number } | null;
  history: { state: string }[];
}
interface Host {
  id: string;
  connected: boolean;
  up: boolean;
  labels: Record<string, string>;
}
interface AmPayload {
  version: string;
  status: string;
  receiver: string;
  alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; endsAt: string; fingerprint: string }[];
}

/**
 * The whole loop with real processes: a controller and an agent as child processes, a real
 * TCP service, a real webhook receiver. Kill the service; laas must notice, alert, heal,
 * resolve, record it all, and keep that record across a controller crash.
 */
describe('the heal loop, end to end', () => {
  const fleet = new Fleet();
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let svc: Awaited<ReturnType<Fleet['service']>>;
  let agent: Proc;

  beforeAll(async () => {
    receiver = await startReceiver();
    svc = await fleet.service('svc');
    fleet.rule('web', 'svc-down', {
      description: 'svc stopped answering',
      hosts: { role: 'web' },
      when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] },
      for: '0s',
      severity: 'critical',
      summary: 'svc is down on {{host}}',
      heal: { action: 'service.restart', params: { service: 'svc' }, maxPerHour: 5 },
      notify: ['ops'],
    });
    await fleet.startController({ receivers: { ops: { type: 'webhook', url: receiver.url } } });
    agent = fleet.startAgent('web-1', { services: [{ name: 'svc', probe: { tcp: `127.0.0.1:${svc.port}` }, probeInterval: '250ms', restart: svc.restart }] });
    await waitFor('agent web-1 connected', async () => (await fleet.api<Host[]>('/api/v1/hosts')).find((h) => h.id === 'web-1' && h.connected));
  });

  afterAll(async () => {
    await stopAll();
    await receiver?.close();
    await fleet.cleanup();
  });

  it('registers the host with its labels', async () => {
    const hosts = await fleet.api<Host[]>('/api/v1/hosts');
    expect(hosts).toEqual([expect.objectContaining({ id: 'web-1', connected: true, up: true, labels: { role: 'web' } })]);
  });

  it('heals a killed service: alert, webhook, dispatch, restart, resolve, succeeded', async () => {
    const oldPid = svc.pid();
    process.kill(oldPid, 'SIGKILL');
    const killedAt = Date.now();

    const firing = await waitFor('a firing alert', async () =>
      (await fleet.api<Alert[]>('/api/v1/alerts')).find((a) => a.rule === 'web/svc-down' && a.state !== 'pending'),
    );
    expect(firing).toMatchObject({ host: 'web-1', severity: 'critical', summary: 'svc is down on web-1' });

    // The demo service writes its pidfile in its listen callback, a moment after the port answers:
    // wait for both, or a connect that lands in between reads the old pid.
    await waitFor('the service to answer again from a new process', async () => (await tcpAnswers(svc.port)) && svc.pid() !== oldPid, 15_000);
    expect(svc.pid()).not.toBe(oldPid);
    const healedAt = Date.now();

    const alert = await waitFor('the alert to resolve', async () =>
      (await fleet.api<Alert[]>('/api/v1/alerts?state=resolved')).find((a) => a.id === firing.id),
    );
    expect(alert.endsAt).not.toBeNull();
    expect(alert.heals).toHaveLength(1);

    const heal = await waitFor('the work order to succeed', async () => {
      const h = await fleet.api<Heal>(`/api/v1/heals/${alert.heals[0]}`);
      return h.state === 'succeeded' && h;
    });
    expect(heal).toMatchObject({
      rule: 'web/svc-down',
      host: 'web-1',
      action: 'service.restart',
      params: { service: 'svc' },
      result: { outcome: 'succeeded', exitCode: 0 },
    });
    // The probe may see the service back just before the agent reports the result, or after.
    const story = heal.history.map((e) => e.state);
    expect(story.slice(0, 3)).toEqual(['requested', 'dispatched', 'acknowledged']);
    expect(story).toEqual(expect.arrayContaining(['result', 'cleared']));
    expect(story.at(-1)).toBe('succeeded');
    expect(heal.reason).toMatch(/^the condition cleared (\d+ ms )?after step 1 \(service.restart/);

    // The receiver got Alertmanager's webhook payload, firing then resolved.
    const payloads = await waitFor('firing and resolved webhooks', () => {
      const bodies = receiver.received.map((r) => r.body as AmPayload).filter((b) => b.alerts?.[0]?.labels.alertname === 'svc-down');
      return bodies.length >= 2 && bodies;
    });
    expect(payloads.map((p) => p.status)).toEqual(['firing', 'resolved']);
    expect(payloads[0]).toMatchObject({ version: '4', receiver: 'ops', status: 'firing' });
    expect(payloads[0].alerts[0]).toMatchObject({
      status: 'firing',
      labels: { alertname: 'svc-down', host: 'web-1', severity: 'critical', role: 'web' },
      annotations: { summary: 'svc is down on web-1' },
    });
    expect(payloads[1].alerts[0].status).toBe('resolved');
    expect(Date.parse(payloads[1].alerts[0].endsAt)).toBeGreaterThan(Date.parse(payloads[1].alerts[0].startsAt));
    expect(payloads[1].alerts[0].fingerprint).toBe(payloads[0].alerts[0].fingerprint);
    expect(receiver.received[0].headers['content-type']).toMatch(/^application\/json/);

    // Metrics count the heal.
    const metrics = await (await fetch(`${fleet.url}/metrics`)).text();
    expect(metrics).toMatch(/laas_heal_actions_total\{rule="web\/svc-down",action="service.restart",outcome="succeeded"\} 1/);
    expect(metrics).toMatch(/laas_link_agents_connected 1/);
    expect(healedAt - killedAt).toBeLessThan(15_000);
  });

  it('keeps alerts and work orders across a controller crash, and the agent reconnects by itself', async () => {
    const before = { alerts: await fleet.api<Alert[]>('/api/v1/alerts'), heals: await fleet.api<Heal[]>('/api/v1/heals') };
    expect(before.heals.length).toBeGreaterThan(0);
    await fleet.controller!.stop('SIGKILL');
    await fleet.startController({ receivers: { ops: { type: 'webhook', url: receiver.url } } });
    const after = { alerts: await fleet.api<Alert[]>('/api/v1/alerts'), heals: await fleet.api<Heal[]>('/api/v1/heals') };
    expect(after.alerts).toEqual(before.alerts);
    expect(after.heals).toEqual(before.heals);
    await waitFor('the agent to reconnect', async () => (await fleet.api<Host[]>('/api/v1/hosts')).find((h) => h.id === 'web-1' && h.connected), 15_000);
    expect(agent.child.exitCode).toBeNull();
    // And the loop still works after the restart.
    process.kill(svc.pid(), 'SIGKILL');
    const heal = await waitFor('a second heal to succeed', async () => (await fleet.api<Heal[]>('/api/v1/heals?state=succeeded')).length === 2, 20_000);
    expect(heal).toBe(true);
  });

  it('raises host-down when the agent stops reporting, and resolves it when it is back', async () => {
    await agent.stop('SIGKILL');
    const down = await waitFor(
      'host-down to fire',
      async () => (await fleet.api<Alert[]>('/api/v1/alerts?state=firing')).find((a) => a.rule === 'builtin/host-down' && a.host === 'web-1'),
      15_000,
    );
    expect(down).toMatchObject({ severity: 'critical', summary: 'host web-1 stopped reporting' });
    expect((await fleet.api<Host[]>('/api/v1/hosts'))[0]).toMatchObject({ id: 'web-1', up: false, connected: false });
    await waitFor('the host-down page', () => receiver.received.some((r) => (r.body as AmPayload).alerts?.[0]?.labels.alertname === 'host-down'));
    agent = fleet.startAgent('web-1', { services: [{ name: 'svc', probe: { tcp: `127.0.0.1:${svc.port}` }, probeInterval: '250ms', restart: svc.restart }] });
    const resolved = await waitFor(
      'host-down to resolve',
      async () => (await fleet.api<Alert[]>('/api/v1/alerts?state=resolved')).find((a) => a.id === down.id),
      15_000,
    );
    expect(resolved.endsAt).not.toBeNull();
    expect((await fleet.api<Host[]>('/api/v1/hosts'))[0]).toMatchObject({ up: true, connected: true });
  });
});
