import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { AgentLink, backoffDelay } from '../../../agent/link.js';
import { decode, encode, silentLogger, type Message, type Result, type Run } from '../../../protocol/index.js';

const result = (id: string): Result => ({
  id,
  action: 'script.run',
  outcome: 'succeeded',
  exitCode: 0,
  signal: null,
  stdout: '',
  stderr: '',
  truncated: false,
  startedAt: 1,
  durationMs: 1,
});

/** A real WebSocket server playing the controller's side of the protocol. */
async function fakeController(opts: { ackResults: () => boolean }) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  const got: { conn: number; msg: Message }[] = [];
  const sockets: WebSocket[] = [];
  const auth: (string | undefined)[] = [];
  let conns = 0;
  wss.on('connection', (ws, req) => {
    const conn = ++conns;
    sockets.push(ws);
    auth.push(req.headers.authorization);
    ws.on('message', (d) => {
      const msg = decode(d);
      got.push({ conn, msg });
      if (msg.type === 'hello') ws.send(encode('welcome', { hostId: msg.body.agentId, controllerVersion: 'test' }));
      if (msg.type === 'result' && opts.ackResults()) ws.send(encode('ack', { id: msg.body.id }));
    });
  });
  const { port } = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    got,
    sockets,
    auth,
    close: () =>
      new Promise((r) => {
        for (const s of wss.clients) s.terminate();
        wss.close(r);
      }),
  };
}

const until = async (what: string, fn: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('agent link', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  function link(url: string, onRun: (r: Run) => void = () => undefined) {
    const l = new AgentLink({
      url,
      token: 'tok',
      log: silentLogger,
      reconnect: { minMs: 20, maxMs: 100 },
      outboxLimit: 3,
      sampleBufferLimit: 2,
      onRun,
      hello: () => ({
        agentId: 'a1',
        agentVersion: 't',
        hostname: 'h',
        labels: {},
        os: { platform: 'linux', release: 'x' },
        intervalMs: 1000,
        services: [],
        actions: [],
        scripts: [],
      }),
    });
    cleanup.push(() => l.stop());
    return l;
  }

  it('sends the bearer token and hello on /v1/agent, and hands runs to the agent', async () => {
    const c = await fakeController({ ackResults: () => true });
    cleanup.push(c.close);
    const runs: Run[] = [];
    const l = link(c.url, (r) => runs.push(r));
    l.start();
    await until('welcome', () => l.connected);
    expect(c.auth).toEqual(['Bearer tok']);
    expect(c.got[0].msg.type).toBe('hello');
    c.sockets[0].send(encode('run', { id: 'r1', host: 'a1', action: 'script.run', params: { name: 'x' }, timeoutMs: 1000, deadline: Date.now() + 1000 }));
    await until('run', () => runs.length === 1);
    expect(runs[0].id).toBe('r1');
  });

  it('resends a result that was not acknowledged after it reconnects, and not once acknowledged', async () => {
    let ack = false;
    const c = await fakeController({ ackResults: () => ack });
    cleanup.push(c.close);
    const l = link(c.url);
    l.start();
    await until('welcome', () => l.connected);
    l.sendResult(result('r1'));
    await until('first result', () => c.got.some((g) => g.msg.type === 'result'));
    expect(l.pendingResults()).toBe(1);
    ack = true;
    c.sockets[0].terminate();
    await until('second connection resend', () => c.got.some((g) => g.conn === 2 && g.msg.type === 'result'));
    await until('ack clears the outbox', () => l.pendingResults() === 0);
    c.sockets[1].terminate();
    await until('third connection', () => c.got.some((g) => g.conn === 3 && g.msg.type === 'hello'));
    await new Promise((r) => setTimeout(r, 100));
    expect(c.got.filter((g) => g.conn === 3 && g.msg.type === 'result')).toEqual([]);
    expect(l.stats.connects).toBe(3);
  });

  it('keeps results while disconnected (bounded, oldest dropped) and the newest samples', async () => {
    const l = link('ws://127.0.0.1:9');
    for (const id of ['r1', 'r2', 'r3', 'r4']) l.sendResult(result(id));
    expect(l.pendingResults()).toBe(3);
    expect(l.stats.resultsDropped).toBe(1);
    for (let i = 0; i < 5; i++) l.sendSample({ seq: i, ts: i, trigger: 'interval' });
    expect(l.stats.samplesDropped).toBe(3);
    const c = await fakeController({ ackResults: () => true });
    cleanup.push(c.close);
    const late = link(c.url);
    for (let i = 0; i < 3; i++) late.sendSample({ seq: i, ts: i, trigger: 'interval' });
    late.sendResult(result('kept'));
    late.start();
    await until('buffered frames', () => c.got.filter((g) => g.msg.type !== 'hello').length === 3);
    expect(c.got.filter((g) => g.msg.type === 'sample').map((g) => (g.msg.body as { seq: number }).seq)).toEqual([1, 2]);
    expect(c.got.some((g) => g.msg.type === 'result' && g.msg.body.id === 'kept')).toBe(true);
  });

  it('backs off with jitter between min/2 and an exponentially growing ceiling', () => {
    expect(backoffDelay(0, 250, 15_000, () => 0)).toBe(125);
    expect(backoffDelay(0, 250, 15_000, () => 1)).toBe(250);
    expect(backoffDelay(3, 250, 15_000, () => 1)).toBe(2000);
    expect(backoffDelay(20, 250, 15_000, () => 1)).toBe(15_000);
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(5, 250, 15_000)));
    expect(spread.size).toBeGreaterThan(10);
  });
});
