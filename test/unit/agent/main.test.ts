import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { parseAgentConfig } from '../../../agent/config.js';
import { startAgent, type Agent } from '../../../agent/main.js';
import { decode, encode, silentLogger, type Message, type Run } from '../../../protocol/index.js';

const until = async (what: string, fn: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('agent instructions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'laas-agent-'));
  let agent: Agent | undefined;
  let wss: WebSocketServer | undefined;
  afterEach(async () => {
    await agent?.stop();
    await new Promise((r) => { for (const c of wss?.clients ?? []) c.terminate(); wss ? wss.close(r) : r(undefined); });
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
        const msg = decode(d as Buffer);
        got.push(msg);
        if (msg.type === 'hello') ws.send(encode('welcome', { hostId: msg.body.agentId, controllerVersion: 't' }));
        if (msg.type === 'result' && sockets.length > 1) ws.send(encode('ack', { id: msg.body.id }));
      });
    });
    const marker = join(dir, 'ran');
    const config = parseAgentConfig({
      controller: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`, token: 't', id: 'a1', interval: '10s',
      reconnect: { min: '100ms', max: '200ms' },
      scripts: { mark: [process.execPath, '-e', `require('fs').appendFileSync(${JSON.stringify(marker)}, 'x')`] },
    }, 'test');
    agent = await startAgent(config, { log: silentLogger });
    await until('connected', () => agent!.link.connected);
    const run: Run = { id: 'r1', host: 'a1', action: 'script.run', params: { name: 'mark' }, timeoutMs: 5000, deadline: Date.now() + 30_000 };
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
});
