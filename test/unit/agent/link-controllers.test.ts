import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { AgentLink } from '../../../agent/link.js';
import { decode, encode, silentLogger, type Result } from '../../../protocol/index.js';

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

/** A real WebSocket server answering hello with welcome and acking results, counting what it got. */
async function controller() {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  const stats = { hellos: 0, results: [] as string[] };
  wss.on('connection', (ws) => {
    ws.on('message', (d) => {
      const msg = decode(d);
      if (msg.type === 'hello') {
        stats.hellos++;
        ws.send(encode('welcome', { hostId: msg.body.agentId, controllerVersion: 'test' }));
      }
      if (msg.type === 'result') {
        stats.results.push(msg.body.id);
        ws.send(encode('ack', { id: msg.body.id }));
      }
    });
  });
  const { port } = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    stats,
    wss,
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

describe('agent link with several controllers', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  const link = (urls: string[]) => {
    const l = new AgentLink({
      url: urls[0],
      urls,
      token: 'tok',
      log: silentLogger,
      reconnect: { minMs: 20, maxMs: 100 },
      outboxLimit: 10,
      onRun: () => undefined,
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
  };

  it('moves to another controller when its controller dies, and hands in the results it holds there', async () => {
    const one = await controller();
    const two = await controller();
    cleanup.push(one.close, two.close);
    const l = link([one.url, two.url]);
    l.start();
    await until('connected', () => l.connected);
    const [first, other] = one.stats.hellos ? [one, two] : [two, one];
    await first.close(); // the controller dies
    l.sendResult(result('w1.0'));
    await until('the result handed in to the other controller', () => other.stats.results.includes('w1.0'));
    expect(other.stats.hellos).toBe(1);
  });

  it('spreads the first connections of many agents over the controllers (shuffled order)', async () => {
    const one = await controller();
    const two = await controller();
    cleanup.push(one.close, two.close);
    const links = Array.from({ length: 20 }, () => link([one.url, two.url]));
    for (const l of links) l.start();
    await until('all connected', () => links.every((l) => l.connected));
    // 20 fair coin flips all landing on one side: one chance in ~500,000.
    expect(one.stats.hellos).toBeGreaterThan(0);
    expect(two.stats.hellos).toBeGreaterThan(0);
    expect(one.stats.hellos + two.stats.hellos).toBe(20);
  });
});
