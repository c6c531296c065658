import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { decode, encode, signRun, type Message, type Run } from '../../protocol/index.js';
import { Fleet } from '../helpers/fleet.js';
import { freePort, logLines, stopAll, waitFor, type Proc } from '../helpers/procs.js';

interface Heal {
  id: string;
  state: string;
  reason: string;
  steps: { ackedAt: string | null; result: { outcome: string } | null }[];
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * What the agent must remember across its own restarts: the instructions it ran (so a replay
 * is refused, not merely stopped by the deadline) and the results not yet acknowledged.
 */
describe('an agent restarted keeps its instruction ids and its unacknowledged results', () => {
  const fleet = new Fleet();
  const key = generateKeyPairSync('ed25519');
  const marker = join(fleet.dir, 'marker');
  let wss: WebSocketServer;
  let socket: WebSocket | undefined;
  let accepting = true;
  let got: Message[] = [];
  let agent: Proc;
  let config: Record<string, unknown>;

  beforeAll(async () => {
    const port = await freePort();
    wss = new WebSocketServer({ port, host: '127.0.0.1' });
    wss.on('connection', (ws) => {
      if (!accepting) {
        ws.terminate();
        return;
      }
      socket = ws;
      ws.on('message', (d) => {
        const msg = decode(d);
        got.push(msg);
        if (msg.type === 'hello') ws.send(encode('welcome', { hostId: msg.body.agentId, controllerVersion: 'test' }));
      });
    });
    fleet.port = port;
    config = {
      controllerKey: key.publicKey.export({ type: 'spki', format: 'pem' }),
      interval: '1s',
      scripts: {
        mark: [process.execPath, '-e', `require('fs').appendFileSync(${JSON.stringify(marker)}, 'x')`],
        slow: ['sh', '-c', 'printf y >> "$0"; sleep 2', marker],
      },
    };
  });

  afterAll(async () => {
    await stopAll();
    await new Promise((r) => {
      for (const c of wss.clients) c.terminate();
      wss.close(r);
    });
    await fleet.cleanup();
  });

  const start = async () => {
    got = [];
    agent = fleet.startAgent('persist-1', config);
    await waitFor('the agent to say hello', () => got.some((m) => m.type === 'hello'), 15_000);
    return got.find((m) => m.type === 'hello')!.body;
  };
  const signed = (id: string, script: string): Run => {
    const run = { id, host: 'persist-1', action: 'script.run', params: { name: script }, timeoutMs: 10_000, deadline: Date.now() + 120_000 };
    return { ...run, sig: signRun(run, key.privateKey) };
  };
  const results = (id: string) => got.flatMap((m) => (m.type === 'result' && m.body.id === id ? [m.body] : []));
  const outboxFile = () => join(fleet.dir, 'laas-persist-1.outbox.json');

  it('refuses a replay of a signed instruction after the agent restarted (well within its deadline)', async () => {
    await start();
    const run = signed('once-1', 'mark');
    socket!.send(encode('run', run));
    expect((await waitFor('the result', () => results('once-1')[0], 10_000)).outcome).toBe('succeeded');
    socket!.send(encode('ack', { id: 'once-1' }));
    // (Killed before the ack reached its disk, the agent would send the result again — the controller takes it once.)
    await waitFor('the ack on disk', () => existsSync(outboxFile()) && !readFileSync(outboxFile(), 'utf8').includes('"once-1"'), 10_000, 50);
    await agent.stop('SIGKILL');
    await start();
    socket!.send(encode('run', run));
    expect(await waitFor('the answer to the replay', () => results('once-1')[0], 10_000)).toMatchObject({
      outcome: 'refused',
      error: { code: 'ACTION_REPLAYED' },
    });
    expect(readFileSync(marker, 'utf8')).toBe('x');
    socket!.send(encode('ack', { id: 'once-1' }));
    await waitFor('the refusal acknowledged on disk', () => !readFileSync(outboxFile(), 'utf8').includes('"once-1"'), 10_000, 50);
  }, 60_000);

  it('a result produced while disconnected survives an agent restart and is delivered once', async () => {
    socket!.send(encode('run', signed('slow-1', 'slow')));
    await waitFor('the agent to accept it', () => got.some((m) => m.type === 'ack' && m.body.id === 'slow-1'), 10_000);
    // The controller goes away; the action finishes meanwhile; then the agent is killed.
    accepting = false;
    socket!.terminate();
    await waitFor('the result kept on disk', () => existsSync(outboxFile()) && readFileSync(outboxFile(), 'utf8').includes('"slow-1"'), 15_000, 50);
    await agent.stop('SIGKILL');
    accepting = true;
    const hello = await start();
    expect(hello.results).toEqual(['slow-1']);
    const first = await waitFor('the kept result', () => results('slow-1')[0], 10_000);
    expect(first.outcome).toBe('succeeded');
    socket!.send(encode('ack', { id: 'slow-1' }));
    await sleep(1000);
    expect(results('slow-1')).toHaveLength(1);
    expect(readFileSync(marker, 'utf8')).toBe('xy');
    // Acknowledged: gone from disk, so the next restart has nothing to send again.
    await waitFor('the outbox to forget it', () => !readFileSync(outboxFile(), 'utf8').includes('"slow-1"'), 10_000, 50);
    await agent.stop('SIGKILL');
    expect((await start()).results).toEqual([]);
    await sleep(1000);
    expect(results('slow-1')).toHaveLength(0);
  }, 60_000);

  it('a corrupt state file is reported, moved aside, and the agent starts anyway', async () => {
    await agent.stop('SIGKILL');
    writeFileSync(join(fleet.dir, 'laas-persist-1.runs.json'), '{"version": 1, "runs": [tru');
    await start();
    const line = logLines(agent.stderr()).find((l) => l.code === 'AGENT_STATE_CORRUPT');
    expect(line?.msg).toMatch(
      /laas-persist-1\.runs\.json: not a valid state file .*moved aside to .*laas-persist-1\.runs\.json\.corrupt-\d+ and starting empty/,
    );
    expect(readdirSync(fleet.dir).filter((f) => f.startsWith('laas-persist-1.runs.json.corrupt-'))).toHaveLength(1);
    expect(
      readFileSync(
        join(
          fleet.dir,
          readdirSync(fleet.dir).find((f) => f.includes('.corrupt-'))!,
        ),
        'utf8',
      ),
    ).toBe('{"version": 1, "runs": [tru');
    // And it works: a new instruction runs.
    socket!.send(encode('run', signed('after-1', 'mark')));
    expect((await waitFor('the result', () => results('after-1')[0], 10_000)).outcome).toBe('succeeded');
  }, 60_000);
});

/** With the real controller: an agent restarted while its result waits is not written off as "result lost". */
describe('a real controller and an agent restarted with a result in its outbox', () => {
  const fleet = new Fleet();
  afterAll(async () => {
    try {
      fleet.controller?.child.kill('SIGCONT');
    } catch {
      /* gone */
    }
    await stopAll();
    await fleet.cleanup();
  });

  it('the work order gets the kept result: succeeded, run once', async () => {
    fleet.rule('persist', 'svc-down', {
      when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] },
      heal: { action: 'service.restart', params: { service: 'svc' } },
    });
    await fleet.startController({ link: { heartbeat: '1s' } });
    const svc = await fleet.service('svc');
    const slow = fleet.slowRestart(svc.restart, 2);
    const cfg = {
      interval: '500ms',
      idleTimeout: '2s',
      services: [{ name: 'svc', probe: { tcp: `127.0.0.1:${svc.port}` }, probeInterval: '250ms', restart: slow.argv }],
    };
    const agent = fleet.startAgent('kept-1', cfg);
    await fleet.hostConnected('kept-1');
    process.kill(svc.pid(), 'SIGKILL');
    const order = await fleet.healAccepted<Heal>('kept-1');
    // The controller freezes, so the result cannot be delivered; the agent keeps it and is restarted.
    fleet.controller!.child.kill('SIGSTOP');
    const outbox = join(fleet.dir, 'laas-kept-1.outbox.json');
    await waitFor('the result kept on disk', () => existsSync(outbox) && readFileSync(outbox, 'utf8').includes(`"${order.id}.0"`), 15_000, 50);
    await agent.stop('SIGKILL');
    fleet.startAgent('kept-1', cfg); // stopped by fleet.cleanup()
    await sleep(500);
    fleet.controller!.child.kill('SIGCONT');
    const done = await waitFor(
      'the work order to finish',
      async () => {
        const h = await fleet.api<Heal>(`/api/v1/heals/${order.id}`);
        return h.state !== 'dispatched' && h;
      },
      30_000,
      100,
    );
    expect(done.state).toBe('succeeded');
    expect(done.steps[0].result?.outcome).toBe('succeeded');
    expect(readFileSync(slow.file, 'utf8')).toBe('x\n');
    expect(await fleet.api<Heal[]>('/api/v1/heals?host=kept-1')).toHaveLength(1);
  }, 90_000);
});
