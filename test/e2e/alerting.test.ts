import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_TOKEN, Fleet } from '../helpers/fleet.js';
import { laasRun, stopAll, waitFor } from '../helpers/procs.js';
import { startReceiver } from '../helpers/receiver.js';
import { SimAgent } from '../helpers/sim-agent.js';

interface AmPayload {
  status: string;
  receiver: string;
  groupLabels: Record<string, string>;
  alerts: { status: string; labels: Record<string, string> }[];
}
interface Alert {
  id: string;
  rule: string;
  host: string;
  state: string;
  flapping: boolean;
  ack: { by: string } | null;
}
interface LogEntry {
  outcome: string;
  receiver: string;
  reason?: string;
  error?: string;
  alerts: { alertname: string; host: string }[];
}
interface Heal {
  rule: string;
  host: string;
  state: string;
  reason: string;
}

const down = (svc: string) => ({ all: [{ fact: 'service', path: `$.${svc}.up`, operator: 'equal', value: false }] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Paging people well, against a real controller process and a real webhook receiver, with
 * lightweight protocol-speaking agents (real WebSocket links) so fifty hosts cost little.
 */
describe('alerting people well', () => {
  const fleet = new Fleet();
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let failing: Awaited<ReturnType<typeof startReceiver>>;
  const agents: SimAgent[] = [];
  const agent = async (id: string, labels: Record<string, string>, services: Record<string, boolean> = {}, intervalMs = 60_000) => {
    const a = new SimAgent(fleet.url, AGENT_TOKEN, id, labels, intervalMs);
    for (const [k, v] of Object.entries(services)) a.services[k] = { up: v, since: Date.now() };
    agents.push(a);
    await a.connect();
    return a;
  };
  const pages = (alertname: string) => receiver.received.map((r) => r.body as AmPayload).filter((b) => b.alerts?.some((a) => a.labels.alertname === alertname));

  beforeAll(async () => {
    receiver = await startReceiver();
    failing = await startReceiver();
    failing.status = 500;
    fleet.rule('burst', 'burst-down', { hosts: { role: 'burst' }, when: down('svc') });
    fleet.rule('mute', 'mute-down', { hosts: { role: 'mute' }, when: down('svc') });
    fleet.rule('maint', 'maint-down', { hosts: { role: 'maint' }, when: down('svc'), heal: { action: 'service.restart', params: { service: 'svc' } } });
    fleet.rule('inhibit', 'inhibit-down', { hosts: { role: 'inhibit' }, when: down('svc') });
    fleet.rule('flap', 'flap-down', { hosts: { role: 'flap' }, when: down('svc') });
    fleet.rule('ack', 'ack-down', { hosts: { role: 'ack' }, when: down('svc') });
    fleet.rule('dead', 'dead-down', { hosts: { role: 'dead' }, when: down('svc'), notify: ['broken'] });
    await fleet.startController({
      hostDownAfter: '2s',
      receivers: { ops: { type: 'webhook', url: receiver.url }, broken: { type: 'webhook', url: failing.url } },
      route: {
        receiver: 'ops',
        groupBy: ['alertname', 'host'],
        routes: [
          { matchers: ['alertname=burst-down'], groupBy: ['alertname'], groupWait: '1s' },
          { matchers: ['alertname=inhibit-down'], groupWait: '4s' },
          { matchers: ['alertname=ack-down'], repeatInterval: '2s' },
        ],
      },
      maintenance: [{ name: 'always', schedule: '* * * * *', duration: '1h', hosts: { role: 'maint' } }],
    });
  });

  afterAll(async () => {
    for (const a of agents) a.stop();
    await stopAll();
    await receiver?.close();
    await failing?.close();
    await fleet.cleanup();
  });

  it('a burst of 50 alerts makes one notification per group, and one resolved notice', async () => {
    const burst = await Promise.all(Array.from({ length: 50 }, (_, i) => agent(`b${i}`, { role: 'burst' }, { svc: true })));
    for (const a of burst) a.setService('svc', false);
    await waitFor(
      '50 firing alerts',
      async () => (await fleet.api<Alert[]>('/api/v1/alerts?state=firing')).filter((a) => a.rule === 'burst/burst-down').length === 50,
    );
    await waitFor('the group page', () => pages('burst-down').length >= 1);
    await sleep(1500);
    const firing = pages('burst-down');
    expect(firing).toHaveLength(1);
    expect(firing[0]).toMatchObject({ status: 'firing', receiver: 'ops', groupLabels: { alertname: 'burst-down' } });
    expect(firing[0].alerts).toHaveLength(50);
    for (const a of burst) a.setService('svc', true);
    await waitFor('the resolved notice', () => pages('burst-down').length === 2, 10_000);
    await sleep(2500);
    expect(pages('burst-down').map((p) => p.status)).toEqual(['firing', 'resolved']);
    expect(pages('burst-down')[1].alerts.filter((a) => a.status === 'resolved')).toHaveLength(50);
  });

  it('a silence mutes, and its expiry un-mutes: the still-firing alert pages then', async () => {
    const a = await agent('m1', { role: 'mute' }, { svc: true });
    const add = await laasRun(['silence', 'add', 'host=m1', 'alertname=~mute.*', '--duration', '1h', '--comment', 'disk swap', '--url', fleet.url]);
    expect(add.code).toBe(0);
    const id = /^silence (\S+) until/.exec(add.stdout)![1];
    a.setService('svc', false);
    await waitFor('the muted entry in the notification log', async () =>
      (await fleet.api<LogEntry[]>('/api/v1/notifications?outcome=muted')).find((e) => e.alerts[0].host === 'm1'),
    );
    await sleep(1000);
    expect(pages('mute-down')).toEqual([]);
    const muted = (await fleet.api<LogEntry[]>('/api/v1/notifications?outcome=muted')).find((e) => e.alerts[0].host === 'm1')!;
    expect(muted.reason).toMatch(new RegExp(`^silenced by ${id} \\(anonymous: disk swap\\)$`));
    const list = await laasRun(['silence', 'list', '--url', fleet.url]);
    expect(list.stdout).toMatch(new RegExp(`^${id}  active .* host=m1 alertname=~mute\\.\\*  \\(anonymous: disk swap\\)$`, 'm'));
    expect((await laasRun(['silence', 'expire', id, '--url', fleet.url])).stdout).toBe(`silence ${id} expired\n`);
    await waitFor('the page after the silence ended', () => pages('mute-down').length === 1, 5000);
    expect(pages('mute-down')[0].status).toBe('firing');
  });

  it('a maintenance window mutes the page and pauses the heal, and says so', async () => {
    const a = await agent('w1', { role: 'maint' }, { svc: true });
    a.setService('svc', false);
    const heal = await waitFor('the skipped work order', async () => (await fleet.api<Heal[]>('/api/v1/heals?rule=maint/maint-down'))[0]);
    expect(heal).toMatchObject({ host: 'w1', state: 'skipped', reason: 'maintenance window always covers w1' });
    expect(a.runs).toEqual([]);
    await waitFor('the muted entry', async () =>
      (await fleet.api<LogEntry[]>('/api/v1/notifications?outcome=muted')).find((e) => e.alerts[0].host === 'w1' && e.reason === 'maintenance window always'),
    );
    expect(pages('maint-down')).toEqual([]);
  });

  it('while host-down fires for a host, its other alerts are not paged', async () => {
    // It says it reports every 500 ms, so silence counts as down after hostDownAfter (2 s).
    const a = await agent('i1', { role: 'inhibit' }, { svc: true }, 500);
    a.setService('svc', false);
    a.stop(); // the host goes silent right after its fault: host-down comes before the 4 s group wait ends
    await waitFor(
      'host-down paged',
      () => receiver.received.some((r) => (r.body as AmPayload).alerts?.some((x) => x.labels.alertname === 'host-down' && x.labels.host === 'i1')),
      10_000,
    );
    await waitFor(
      'the inhibited entry',
      async () => (await fleet.api<LogEntry[]>('/api/v1/notifications?outcome=muted')).find((e) => e.alerts[0].host === 'i1'),
      10_000,
    );
    const entry = (await fleet.api<LogEntry[]>('/api/v1/notifications?outcome=muted')).find((e) => e.alerts[0].host === 'i1')!;
    expect(entry.reason).toBe('inhibited: host-down is firing for i1');
    expect(pages('inhibit-down')).toEqual([]);
  });

  it('a flapping fault yields one page, not twenty', async () => {
    const a = await agent('f1', { role: 'flap' }, { svc: true });
    for (let i = 0; i < 20; i++) {
      a.setService('svc', false);
      await sleep(60);
      a.setService('svc', true);
      await sleep(60);
    }
    await waitFor(
      'the alert marked flapping',
      async () => (await fleet.api<Alert[]>('/api/v1/alerts?state=firing')).find((x) => x.host === 'f1' && x.flapping),
      10_000,
    );
    await sleep(3000);
    expect(pages('flap-down').filter((p) => p.status === 'firing')).toHaveLength(1);
    expect(pages('flap-down').filter((p) => p.status === 'resolved')).toHaveLength(0);
  });

  it('repeats an unacknowledged page, and stops once acknowledged', async () => {
    const a = await agent('k1', { role: 'ack' }, { svc: true });
    a.setService('svc', false);
    await waitFor('a repeat', () => pages('ack-down').length >= 2, 10_000);
    const alert = (await fleet.api<Alert[]>('/api/v1/alerts?state=firing')).find((x) => x.host === 'k1')!;
    const ack = await laasRun(['ack', alert.id, '--comment', 'on it', '--url', fleet.url]);
    expect(ack.stdout).toBe(`alert ${alert.id} acknowledged by anonymous\n`);
    const count = pages('ack-down').length;
    await sleep(4500);
    expect(pages('ack-down').length).toBeLessThanOrEqual(count + 1); // one may have been on its way
    const after = pages('ack-down').length;
    await sleep(2500);
    expect(pages('ack-down').length).toBe(after);
    expect((await fleet.api<Alert>(`/api/v1/alerts/${alert.id}`)).ack).toMatchObject({ by: 'anonymous', comment: 'on it' });
  });

  it('retries a receiver that is down, and counts and logs every failure', async () => {
    const a = await agent('d1', { role: 'dead' }, { svc: true });
    a.setService('svc', false);
    await waitFor('three attempts at the broken receiver', () => failing.received.length === 3, 10_000);
    const log = await waitFor('three failures logged', async () => {
      const l = await fleet.api<LogEntry[]>('/api/v1/notifications?receiver=broken');
      return l.length === 3 && l;
    });
    expect(log.every((e) => e.outcome === 'failed' && e.error === `webhook at ${new URL(failing.url).host} answered HTTP 500`)).toBe(true);
    const metrics = await (await fetch(`${fleet.url}/metrics`)).text();
    expect(metrics).toMatch(/laas_notify_attempts_total\{receiver="broken",outcome="failed"\} 3/);
  });
});

/** After a controller restart, hosts that reconnect within the grace period are never declared down. */
describe('host-down across a controller restart', () => {
  const fleet = new Fleet();
  const agents: SimAgent[] = [];
  afterAll(async () => {
    for (const a of agents) a.stop();
    await stopAll();
    await fleet.cleanup();
  });

  it('raises no host-down when agents reconnect inside the grace period, and no false all-clear', async () => {
    await fleet.startController({ hostDownAfter: '3s' });
    for (let i = 0; i < 5; i++) {
      const a = new SimAgent(fleet.url, AGENT_TOKEN, `g${i}`, {}, 1000);
      agents.push(a);
      await a.connect();
      a.sample();
    }
    const gone = agents[4];
    gone.stop(); // this one really is down
    await waitFor('g4 down', async () => (await fleet.api<Alert[]>('/api/v1/alerts?state=firing')).some((x) => x.host === 'g4'), 10_000);
    await fleet.controller!.stop('SIGKILL');
    await fleet.startController({ hostDownAfter: '3s' });
    await waitFor(
      'the four live agents back',
      async () => (await fleet.api<{ id: string; connected: boolean }[]>('/api/v1/hosts')).filter((h) => h.connected).length === 4,
      10_000,
    );
    const tick = setInterval(() => {
      for (const a of agents.slice(0, 4)) a.sample();
    }, 500);
    try {
      await sleep(5000);
    } finally {
      clearInterval(tick);
    }
    const firing = await fleet.api<Alert[]>('/api/v1/alerts?state=firing');
    expect(firing.map((x) => `${x.rule}@${x.host}`)).toEqual(['builtin/host-down@g4']);
    expect((await fleet.api<{ id: string; up: boolean }[]>('/api/v1/hosts')).find((h) => h.id === 'g4')!.up).toBe(false);
  });
});
