import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_TOKEN, Fleet } from '../helpers/fleet.js';
import { stopAll, waitFor } from '../helpers/procs.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { SimAgent } from '../helpers/sim-agent.js';

interface Page {
  alerts: { labels: Record<string, string> }[];
}
interface Outcome {
  ok: boolean;
  applied: string[];
  needsRestart: string[];
  error?: string;
}

/**
 * controller.json reloaded in a running controller process (POST /api/v1/config/reload and
 * SIGHUP), against real webhook receivers and agents on real WebSocket links.
 */
describe('controller.json hot reload', () => {
  const fleet = new Fleet();
  let a: Receiver;
  let b: Receiver;
  const agents: SimAgent[] = [];
  let config: Record<string, unknown>;

  const pagedFor = (r: Receiver, host: string) => r.received.some((x) => (x.body as Page).alerts?.some((al) => al.labels.host === host));
  const down = async (id: string, role = 'web') => {
    const agent = new SimAgent(fleet.url, AGENT_TOKEN, id, { role }, 60_000);
    agent.services.svc = { up: false, since: Date.now() };
    agents.push(agent);
    await agent.connect();
    agent.sample();
  };
  const write = (change: Record<string, unknown>) => fleet.writeRaw('controller.json', JSON.stringify({ ...config, ...change }, null, 2));
  const reload = async () => {
    const r = await fleet.fetch('/api/v1/config/reload', { method: 'POST', body: '{}' });
    return { status: r.status, body: (await r.json()) as Outcome };
  };

  beforeAll(async () => {
    a = await startReceiver();
    b = await startReceiver();
    fleet.rule('svc', 'down', { hosts: { role: 'web' }, when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] } });
    fleet.rule('svc', 'pinned', {
      hosts: { role: 'pinned' },
      notify: ['a'],
      when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] },
    });
    await fleet.startController({
      receivers: { a: { type: 'webhook', url: a.url }, b: { type: 'webhook', url: b.url } },
      route: { receiver: 'a', groupBy: ['alertname', 'host'], groupWait: '0s' },
    });
    config = JSON.parse(readFileSync(join(fleet.dir, 'controller.json'), 'utf8')) as Record<string, unknown>;
  });
  afterAll(async () => {
    for (const x of agents) x.stop();
    await stopAll();
    await a.close();
    await b.close();
    await fleet.cleanup();
  });

  it('routes new pages by the reloaded route, keeps the alerts that fire, and names what needs a restart', async () => {
    await down('h1');
    await waitFor('h1 paged to receiver a', () => pagedFor(a, 'h1'), 10_000);

    write({ route: { receiver: 'b', groupBy: ['alertname', 'host'], groupWait: '0s' }, hostDownAfter: '5s' });
    const r = await reload();
    expect(r).toEqual({ status: 200, body: { ok: true, applied: ['route'], needsRestart: ['hostDownAfter'] } });

    await down('h2');
    await waitFor('h2 paged to receiver b', () => pagedFor(b, 'h2'), 10_000);
    expect(pagedFor(a, 'h2')).toBe(false);
    // The alert raised before the reload still fires.
    const alerts = await fleet.api<{ host: string; state: string }[]>('/api/v1/alerts');
    expect(alerts.find((x) => x.host === 'h1')?.state).toBe('firing');
  });

  it('refuses a file that does not validate, or that drops a receiver a rule names, with the file and JSON pointer; the running config stays', async () => {
    write({ route: { receiver: 'nope' } });
    const bad = await reload();
    expect(bad.status).toBe(422);
    expect(bad.body.ok).toBe(false);
    expect(bad.body.error).toMatch(/controller\.json \/route/);
    expect(bad.body.error).toContain('nope');

    write({ receivers: { b: { type: 'webhook', url: b.url } }, route: { receiver: 'b', groupWait: '0s' } });
    const dropped = await reload();
    expect(dropped.status).toBe(422);
    expect(dropped.body.error).toMatch(/controller\.json \/receivers: rule svc\/pinned names receiver "a"/);

    // Still routed to b, as the last good file said.
    await down('h3');
    await waitFor('h3 paged to receiver b', () => pagedFor(b, 'h3'), 10_000);
    expect(pagedFor(a, 'h3')).toBe(false);
    const metrics = await (await fleet.fetch('/metrics')).text();
    expect(metrics).toMatch(/laas_config_reloads_total\{outcome="failed"\} 2/);
  });

  it('reloads on SIGHUP too', async () => {
    write({ route: { receiver: 'a', groupBy: ['alertname', 'host'], groupWait: '0s' }, hostDownAfter: '5s' });
    fleet.controller!.child.kill('SIGHUP');
    await waitFor('the reload counted', async () => /laas_config_reloads_total\{outcome="ok"\} 2/.test(await (await fleet.fetch('/metrics')).text()), 10_000);
    await down('h4');
    await waitFor('h4 paged to receiver a', () => pagedFor(a, 'h4'), 10_000);
    expect(pagedFor(b, 'h4')).toBe(false);
  });
});
