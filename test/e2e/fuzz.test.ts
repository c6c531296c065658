import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { AgentLink } from '../../agent/link.js';
import { LaasError, decode, encode, silentLogger, type Message } from '../../protocol/index.js';
import { AGENT_TOKEN, Fleet } from '../helpers/fleet.js';
import { freePort, stopAll } from '../helpers/procs.js';

const validFrames = [
  encode('hello', {
    agentId: 'fz',
    agentVersion: '1',
    hostname: 'fz',
    labels: { a: 'b' },
    os: { platform: 'linux', release: 'x' },
    intervalMs: 1000,
    services: [],
    actions: [],
    scripts: [],
  }),
  encode('sample', { seq: 1, ts: 1, trigger: 'interval', cpu: { usage: 1, load1: 1, load5: 1, load15: 1 } }),
  encode('result', {
    id: 'r.0',
    action: 'script.run',
    outcome: 'succeeded',
    exitCode: 0,
    signal: null,
    stdout: '',
    stderr: '',
    truncated: false,
    startedAt: 1,
    durationMs: 1,
  }),
  encode('run', { id: 'r.0', host: 'fz', action: 'script.run', params: { name: 'x' }, timeoutMs: 1, deadline: 1 }),
  encode('ack', { id: 'x' }),
  encode('welcome', { hostId: 'fz', controllerVersion: '1' }),
];

/** Frames a fuzzer would try: random text, random JSON, and valid frames with bytes or fields changed. */
const frame = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.json({ maxDepth: 4 }),
  fc
    .tuple(fc.constantFrom(...validFrames), fc.nat(), fc.string({ minLength: 1, maxLength: 5 }))
    .map(([f, at, s]) => f.slice(0, at % f.length) + s + f.slice((at % f.length) + 1)),
  fc.tuple(fc.constantFrom(...validFrames), fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 })).map(([f, key, value]) => {
    const o = JSON.parse(f) as { body: Record<string, unknown> };
    o.body[key] = value;
    return JSON.stringify(o);
  }),
  fc.tuple(fc.constantFrom(...validFrames), fc.jsonValue({ maxDepth: 2 })).map(([f, v]) => JSON.stringify({ ...JSON.parse(f), v })),
);

describe('fuzzing the wire', () => {
  it('decode() turns any input into a typed message or a FRAME_* error, never anything else', () => {
    fc.assert(
      fc.property(frame, (f) => {
        try {
          const msg = decode(f);
          expect(decode(encode(msg.type, msg.body as never))).toEqual(msg);
        } catch (e) {
          expect(e).toBeInstanceOf(LaasError);
          expect((e as LaasError).code).toMatch(/^FRAME_/);
        }
      }),
      { numRuns: 5000 },
    );
  });

  describe('at a real controller', () => {
    const fleet = new Fleet();
    beforeAll(() => fleet.startController());
    afterAll(async () => {
      await stopAll();
      await fleet.cleanup();
    });

    it('closes every connection that sends a bad frame with its error code, and keeps serving', async () => {
      const samples = fc.sample(frame, { numRuns: 300, seed: 42 });
      let closedWithCode = 0;
      let accepted = 0;
      for (const f of samples) {
        let expectedOk: boolean;
        try {
          expectedOk = decode(f).type === 'hello';
        } catch {
          expectedOk = false;
        }
        const ws = new WebSocket(`${fleet.url.replace('http', 'ws')}/v1/agent`, { headers: { authorization: `Bearer ${AGENT_TOKEN}` } });
        await new Promise((r) => ws.once('open', r));
        const outcome = await new Promise<{ code?: number; reason?: string; msg?: Message }>((resolve) => {
          ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
          ws.once('message', (d) => resolve({ msg: decode(d) }));
          ws.send(f);
        });
        ws.terminate();
        if (expectedOk) {
          expect(outcome.msg?.type).toBe('welcome');
          accepted++;
        } else {
          expect(outcome.code).toBe(1008);
          expect(outcome.reason).toMatch(/^FRAME_[A-Z_]+: /);
          closedWithCode++;
        }
      }
      expect(closedWithCode).toBeGreaterThan(250);
      const health = await fleet.fetch('/healthz');
      expect(health.status).toBe(200);
      const metrics = await (await fleet.fetch('/metrics')).text();
      expect(metrics).toMatch(/laas_link_frames_rejected_total\{code="FRAME_NOT_JSON"\} \d+/);
      expect(fleet.controller!.child.exitCode).toBeNull();
      expect(accepted + closedWithCode).toBe(300);
    }, 120_000);
  });

  it('an agent drops a link that sends it a bad frame, never crashes, and reconnects', async () => {
    const port = await freePort();
    const wss = new WebSocketServer({ port, host: '127.0.0.1' });
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    const samples = fc.sample(frame, { numRuns: 150, seed: 7 }).filter((f) => {
      try {
        return !['run', 'ack', 'collect', 'welcome'].includes(decode(f).type);
      } catch {
        return true;
      }
    });
    let connections = 0;
    const closes: number[] = [];
    wss.on('connection', (ws) => {
      const n = connections++;
      ws.on('message', (d) => {
        const msg = decode(d);
        if (msg.type !== 'hello') return;
        ws.send(encode('welcome', { hostId: msg.body.agentId, controllerVersion: 't' }));
        if (n < samples.length) ws.send(samples[n]);
      });
      ws.on('close', (code) => closes.push(code));
    });
    const link = new AgentLink({
      url: `ws://127.0.0.1:${port}`,
      token: 't',
      log: silentLogger,
      reconnect: { minMs: 2, maxMs: 4 },
      outboxLimit: 10,
      onRun: () => undefined,
      hello: () => ({
        agentId: 'fz',
        agentVersion: 't',
        hostname: 'fz',
        labels: {},
        os: { platform: 'linux', release: 'x' },
        intervalMs: 1000,
        services: [],
        actions: [],
        scripts: [],
      }),
    });
    try {
      link.start();
      const until = Date.now() + 60_000;
      while (connections <= samples.length && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(connections).toBeGreaterThan(samples.length);
      expect(closes.filter((c) => c === 1008).length).toBe(samples.length);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await link.stop();
      await new Promise((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(r);
      });
    }
  }, 90_000);
});
