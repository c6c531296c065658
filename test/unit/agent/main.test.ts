import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { parseAgentConfig } from '../../../agent/config.js';
import { startAgent, type Agent } from '../../../agent/main.js';
import { LaasError, decode, encode, signRun, silentLogger, type Message, type Run } from '../../../protocol/index.js';

const key = generateKeyPairSync('ed25519');
const publicPem = key.publicKey.export({ type: 'spki', format: 'pem' }) as string;
const signed = (run: Omit<Run, 'sig'>): Run => ({ ...run, sig: signRun(run, key.privateKey) });

const until = async (what: string, fn: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('agent instructions', () => {
  let dir = '';
  let agent: Agent | undefined;
  let wss: WebSocketServer | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'laas-agent-'));
  });
  afterEach(async () => {
    await agent?.stop();
    await new Promise((r) => {
      for (const c of wss?.clients ?? []) c.terminate();
      if (wss) wss.close(r);
      else r(undefined);
    });
    agent = undefined;
    wss = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs an instruction once even when it is sent again after a reconnect; a replay is refused', async () => {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss!.once('listening', r));
    const got: Message[] = [];
    const sockets: WebSocket[] = [];
    wss.on('connection', (ws) => {
      sockets.push(ws);
      ws.on('message', (d) => {
        const msg = decode(d);
        got.push(msg);
        if (msg.type === 'hello') ws.send(encode('welcome', { hostId: msg.body.agentId, controllerVersion: 't' }));
        if (msg.type === 'result' && sockets.length > 1) ws.send(encode('ack', { id: msg.body.id }));
      });
    });
    const marker = join(dir, 'ran');
    const config = parseAgentConfig(
      {
        controller: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`,
        token: 't',
        id: 'a1',
        interval: '10s',
        signingKey: publicPem,
        reconnect: { min: '100ms', max: '200ms' },
        scripts: { mark: [process.execPath, '-e', `require('fs').appendFileSync(${JSON.stringify(marker)}, 'x')`] },
      },
      'test',
    );
    agent = await startAgent(config, { log: silentLogger });
    await until('connected', () => agent!.link.connected);
    const run = signed({ id: 'r1', host: 'a1', action: 'script.run', params: { name: 'mark' }, timeoutMs: 5000, deadline: Date.now() + 30_000 });
    sockets[0].send(encode('run', run));
    await until('first result', () => got.some((m) => m.type === 'result'));
    expect(got.filter((m) => m.type === 'ack').map((m) => m.body.id)).toEqual(['r1']);
    sockets[0].terminate();
    await until('reconnect', () => sockets.length === 2 && agent!.link.connected);
    // The result was never acknowledged, so it comes again from the outbox; the resent run is not run.
    await until('the outbox resend', () => got.filter((m) => m.type === 'result').length === 2);
    await until('the ack to clear the outbox', () => agent!.link.pendingResults() === 0);
    sockets[1].send(encode('run', run));
    await until('the refusal', () => got.filter((m) => m.type === 'result').length === 3);
    expect(readFileSync(marker, 'utf8')).toBe('x');
    const results = got.flatMap((m) => (m.type === 'result' ? [m.body] : []));
    expect(results.map((r) => r.outcome)).toEqual(['succeeded', 'succeeded', 'refused']);
    expect(results[2].error).toMatchObject({ code: 'ACTION_REPLAYED' });
  });
  /** A fake controller on a real WebSocket: welcomes, acks results, records every message. */
  async function fakeController(): Promise<{ url: string; got: Message[]; send: (run: Run) => void }> {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss!.once('listening', r));
    const got: Message[] = [];
    let socket: WebSocket | undefined;
    wss.on('connection', (ws) => {
      socket = ws;
      ws.on('message', (d) => {
        const msg = decode(d);
        got.push(msg);
        if (msg.type === 'hello') ws.send(encode('welcome', { hostId: msg.body.agentId, controllerVersion: 't' }));
        if (msg.type === 'result') ws.send(encode('ack', { id: msg.body.id }));
      });
    });
    return { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`, got, send: (run) => socket!.send(encode('run', run)) };
  }

  it('with no signing key pinned, refuses every instruction (even a signed one) and still reports', async () => {
    const ctl = await fakeController();
    const marker = join(dir, 'ran-unpinned');
    agent = await startAgent(
      parseAgentConfig(
        {
          controller: ctl.url,
          token: 't',
          id: 'a2',
          interval: '10s',
          scripts: { mark: [process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`] },
        },
        'test',
      ),
      { log: silentLogger },
    );
    await until('the startup sample', () => ctl.got.some((m) => m.type === 'sample'));
    ctl.send(signed({ id: 'n1', host: 'a2', action: 'script.run', params: { name: 'mark' }, timeoutMs: 5000, deadline: Date.now() + 30_000 }));
    await until('the refusal', () => ctl.got.some((m) => m.type === 'result'));
    const result = ctl.got.find((m) => m.type === 'result')!.body as { outcome: string; error: { code: string; message: string } };
    expect(result.outcome).toBe('refused');
    expect(result.error.code).toBe('ACTION_NO_SIGNING_KEY');
    expect(result.error.message).toContain('set "signingKey" in agent.json');
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses an unsigned instruction when a key is pinned', async () => {
    const ctl = await fakeController();
    agent = await startAgent(
      parseAgentConfig({ controller: ctl.url, token: 't', id: 'a3', interval: '10s', controllerKey: publicPem, scripts: { x: ['true'] } }, 'test'),
      { log: silentLogger },
    );
    await until('connected', () => agent!.link.connected);
    ctl.send({ id: 'u1', host: 'a3', action: 'script.run', params: { name: 'x' }, timeoutMs: 5000, deadline: Date.now() + 30_000 });
    await until('the refusal', () => ctl.got.some((m) => m.type === 'result'));
    expect(ctl.got.find((m) => m.type === 'result')!.body).toMatchObject({
      outcome: 'refused',
      error: { code: 'ACTION_BAD_SIGNATURE', message: 'the instruction is not signed' },
    });
  });

  it("fails enrollment, saving nothing, when the controller's reply carries no signing key", async () => {
    const server: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ agentId: 'e1', credential: 'laas-agent-x' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const credentialFile = join(dir, 'credential.json');
    try {
      const config = parseAgentConfig(
        { controller: `ws://127.0.0.1:${(server.address() as { port: number }).port}`, enrollToken: 'laas-enroll-x', id: 'e1', credentialFile },
        'test',
      );
      const err = await startAgent(config, { log: silentLogger }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(LaasError);
      expect(err).toMatchObject({ code: 'ENROLL_FAILED', message: expect.stringContaining('has no valid signing key') });
      expect(existsSync(credentialFile)).toBe(false);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
