import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../helpers/fleet.js';
import { cleanStaleNamespaces, netnsUnavailable, NetnsHost } from '../helpers/netns.js';
import { CLI, freePort, laas, laasRun, logLines, stopAll, waitFor, type Proc } from '../helpers/procs.js';

interface Host {
  id: string;
  connected: boolean;
  up: boolean;
}
interface Alert {
  id: string;
  rule: string;
  host: string;
  state: string;
}
interface Heal {
  id: string;
  host: string;
  rule: string;
  state: string;
  result: { outcome: string } | null;
  steps: { state: string; ackedAt: string | null; result: { outcome: string } | null }[];
}

const unavailable = netnsUnavailable();
if (unavailable && process.env.CI) throw new Error(`partition tests cannot run in CI: ${unavailable}`);
if (unavailable) process.stderr.write(`partition.test.ts skipped: ${unavailable}\n`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A counter's value in Prometheus text (summed over label sets that match). */
const counter = (text: string, name: string, labels = ''): number =>
  text
    .split('\n')
    .filter((l) => l.startsWith(name + (labels ? `{${labels}` : '')) && (labels || /^[^{ ]+[{ ]/.test(l)))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);

/**
 * A real partition: the agent runs in its own network namespace, joined to the controller by a
 * veth pair; taking the root side of the pair down makes every packet between them vanish.
 */
describe.skipIf(unavailable)('network partition (agent in its own network namespace)', () => {
  const fleet = new Fleet();
  const part = new NetnsHost('part');
  let fix: ReturnType<Fleet['slowRestart']>;
  const pidfile = join(fleet.dir, 'svc.pid');
  let svcPort = 0;
  let metricsPort = 0;
  let agent: Proc;
  let steady: Proc;

  beforeAll(async () => {
    cleanStaleNamespaces();
    part.create();
    const certs = join(fleet.dir, 'certs');
    expect((await laasRun(['certs', 'init', '--dir', certs, '--hosts', part.hostAddr])).code).toBe(0);
    fleet.rule('part', 'svc-down', {
      when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] },
      heal: { action: 'script.run', params: { name: 'fix' }, timeout: '60s', verifyWithin: '60s' },
    });
    await fleet.startController(
      {
        agentTokens: ['partition-token-0123456789abcdef'],
        tls: { cert: join(certs, 'controller.pem'), key: join(certs, 'controller-key.pem') },
        hostDownAfter: '3s',
        link: { heartbeat: '1s' },
      },
      { https: true, ca: readFileSync(join(certs, 'ca.pem'), 'utf8'), host: part.hostAddr },
    );

    // The watched service lives in the namespace too (its loopback), started like an init script would.
    svcPort = await freePort();
    metricsPort = await freePort();
    const start = [process.execPath, CLI, 'demo', 'start', '--port', String(svcPort), '--pidfile', pidfile];
    const started = part.laas(start.slice(2));
    fix = fleet.slowRestart(start, 3, 'fix-runs');
    expect(await started.exited).toBe(0);
    const agentConfig = (id: string, extra: Record<string, unknown>) =>
      fleet.writeRaw(
        `agent-${id}.json`,
        JSON.stringify({
          controller: `wss://${part.hostAddr}:${fleet.port}`,
          ca: join(certs, 'ca.pem'),
          token: 'partition-token-0123456789abcdef',
          id,
          ...fleet.pin(),
          interval: '500ms',
          reconnect: { min: '100ms', max: '1s' },
          idleTimeout: '3s',
          ...extra,
        }),
      );
    agent = part.laas([
      'agent',
      '--config',
      agentConfig('part-1', {
        sampleBufferLimit: 5,
        metrics: { listen: `${part.nsAddr}:${metricsPort}` },
        services: [{ name: 'svc', probe: { tcp: `127.0.0.1:${svcPort}` }, probeInterval: '250ms' }],
        // Counts its runs, takes 3 s (so its result is produced during the cut), then brings the service back.
        scripts: { fix: fix.argv },
      }),
    ]);
    // A second agent on the same controller, in the root namespace: the partition must not touch it.
    steady = laas(['agent', '--config', agentConfig('steady-1', {})]);
    await waitFor(
      'both agents connected',
      async () => {
        const hosts = await fleet.api<Host[]>('/api/v1/hosts');
        return ['part-1', 'steady-1'].every((id) => hosts.some((h) => h.id === id && h.connected));
      },
      30_000,
    );
  }, 60_000);

  afterAll(async () => {
    try {
      part.restore();
    } catch {
      /* not created */
    }
    try {
      process.kill(Number(readFileSync(pidfile, 'utf8')), 'SIGKILL');
    } catch {
      /* not started or gone */
    }
    await part.destroy();
    await stopAll();
    await fleet.cleanup();
  });

  it('host-down while cut; samples buffered (bounded, drops counted); the heal result arrives once after', async () => {
    // The service dies; the heal is dispatched and accepted by the agent; then the link is cut.
    process.kill(Number(readFileSync(pidfile, 'utf8')), 'SIGKILL');
    const order = await fleet.healAccepted<Heal>('part-1');
    part.cut();
    const cutAt = Date.now();

    // The controller notices: host-down fires for the cut host only.
    const down = await waitFor(
      'host-down for part-1',
      async () => (await fleet.api<Alert[]>('/api/v1/alerts?state=firing')).find((a) => a.host === 'part-1' && a.rule.endsWith('host-down')),
      20_000,
      100,
    );
    expect(down.state).toBe('firing');
    const hostDownAfterMs = Date.now() - cutAt;
    // Long enough past the agent's own idle timeout (3 s) that it buffers more than its limit of 5 samples (one per 500 ms).
    await sleep(Math.max(0, 9_000 - (Date.now() - cutAt)));
    const during = await fleet.api<Alert[]>('/api/v1/alerts?state=firing');
    expect(during.filter((a) => a.host === 'steady-1')).toEqual([]);
    expect((await fleet.api<Heal>(`/api/v1/heals/${order.id}`)).state).toBe('dispatched');

    part.restore();
    const done = await waitFor(
      'the work order to finish',
      async () => {
        const h = await fleet.api<Heal>(`/api/v1/heals/${order.id}`);
        return h.state !== 'dispatched' && h;
      },
      40_000,
      100,
    );
    await waitFor(
      'host-down resolved',
      async () => !(await fleet.api<Alert[]>('/api/v1/alerts?state=firing')).some((a) => a.host === 'part-1'),
      30_000,
      100,
    ).catch(async (e) => {
      process.stderr.write(
        JSON.stringify(await fleet.api('/api/v1/alerts'), null, 1) +
          JSON.stringify(done) +
          '\n' +
          agent.stderr().slice(-6000) +
          '\n' +
          fleet.controller!.stderr().slice(-8000),
      );
      throw e;
    });

    // Exactly once: one work order, one result on it, the action ran once.
    expect(done.state).toBe('succeeded');
    expect(done.steps).toHaveLength(1);
    expect(done.steps[0].result?.outcome).toBe('succeeded');
    expect(readFileSync(fix.file, 'utf8')).toBe('x\n');
    expect(await fleet.api<Heal[]>('/api/v1/heals?host=part-1')).toHaveLength(1);
    // No flapping on old news: svc-down fired once, host-down fired once, and both are resolved.
    const alerts = (await fleet.api<Alert[]>('/api/v1/alerts')).filter((a) => a.host === 'part-1');
    expect(alerts.filter((a) => a.rule === 'part/svc-down').map((a) => a.state)).toEqual(['resolved']);
    expect(alerts.filter((a) => a.rule.endsWith('host-down')).map((a) => a.state)).toEqual(['resolved']);

    // The agent buffered at most its limit, dropped the oldest, counted them, and sent the rest.
    const flushes = (p: Proc) => logLines(p.stderr()).filter((l) => l.msg === 'link back: sending the samples buffered while it was down');
    const back = await waitFor('the agent to report its buffer', () => flushes(agent).find((l) => (l.dropped as number) > 0), 10_000);
    expect(back.sent).toBe(5);
    expect(back.dropped as number).toBeGreaterThanOrEqual(1);
    const agentMetrics = await (await fetch(`http://${part.nsAddr}:${metricsPort}/metrics`)).text();
    expect(counter(agentMetrics, 'laas_agent_samples_dropped_total')).toBe(back.dropped);
    expect(counter(agentMetrics, 'laas_agent_results_pending')).toBe(0);
    // The controller counted the buffered samples as late (not evaluated), and cut the dead peer by ping.
    const metrics = await (await fleet.fetch('/metrics')).text();
    // (Samples taken before an agent's very first connection are buffered too, and counted alike.)
    const sent = [...flushes(agent), ...flushes(steady)].reduce((n, l) => n + (l.sent as number), 0);
    expect(counter(metrics, 'laas_samples_late_total', 'reason="buffered"')).toBe(sent);
    expect(counter(metrics, 'laas_link_peers_cut_total', 'reason="not-answering"')).toBeGreaterThanOrEqual(1);
    expect(steady.child.exitCode).toBeNull();
    process.stderr.write(
      `partition: host-down ${hostDownAfterMs} ms after the cut; agent buffered ${back.sent as number}, dropped ${back.dropped as number}; fix ran ${fix.runs()}x\n`,
    );
  }, 120_000);
});
