import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServiceConfig } from '../../../agent/config.js';
import { ServiceWatcher } from '../../../agent/services.js';
import { silentLogger, type Logger, type ServiceFacts } from '../../../protocol/index.js';

/**
 * http probes with `"watch": true` keep the keep-alive connection their answer came on: when the
 * server's process dies the kernel closes it and the agent looks again at once. Services are
 * probed once a minute, so a down state that arrives during a test can only have come from the
 * held connection: the assertions are on what happens and in which order, never on a duration.
 */
const MINUTE = 60_000;
const children: ChildProcess[] = [];
const servers: Server[] = [];
const watchers: ServiceWatcher[] = [];

afterEach(async () => {
  for (const w of watchers.splice(0)) w.stop();
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms}ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A real HTTP server in its own process (a kill is a kill), answering "ok healthy"; resolves its port. */
async function serverProcess(): Promise<{ child: ChildProcess; port: number }> {
  const code = `const s = require('node:http').createServer((q, r) => r.end('ok healthy'));
    s.keepAliveTimeout = 600000; s.listen(0, '127.0.0.1', () => console.log(s.address().port));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
    child.once('exit', (c) => reject(new Error(`server exited (${c})`)));
  });
  return { child, port };
}

/** An in-process server that counts its connections and what is still open. */
async function server(opts: { keepAliveTimeout?: number; close?: boolean } = {}) {
  const open = new Set<Socket>();
  let connections = 0;
  const s = createServer((_q, r) => {
    if (opts.close) r.setHeader('connection', 'close');
    r.end('ok');
  });
  if (opts.keepAliveTimeout) s.keepAliveTimeout = opts.keepAliveTimeout;
  s.on('connection', (c: Socket) => {
    connections++;
    open.add(c);
    c.once('close', () => open.delete(c));
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { s, port: (s.address() as AddressInfo).port, open, connections: () => connections };
}

function watch(services: ServiceConfig[], log: Logger = silentLogger) {
  const changes: { name: string; facts: ServiceFacts }[] = [];
  const w = new ServiceWatcher({ services, log, onChange: (name, facts) => changes.push({ name, facts }) });
  watchers.push(w);
  w.start();
  return { w, changes };
}
const svc = (port: number, http?: ServiceConfig['probe']['http'], probeIntervalMs = MINUTE): ServiceConfig => ({
  name: 'web',
  probe: { kind: 'http', target: `http://127.0.0.1:${port}/health`, watch: true, ...(http ? { http } : {}) },
  probeIntervalMs,
  probeTimeoutMs: 2000,
});

describe('http probes watching their connection', () => {
  it('report a killed server down at once, with a probe a minute apart, its answer still judged in full', async () => {
    const { child, port } = await serverProcess();
    const { changes } = watch([svc(port, { status: [[200, 200]], bodyContains: 'healthy', bodyMatch: 'ok|fine', redirects: 0 })]);
    await until('up', () => changes.length === 1);
    expect(changes[0].facts).toMatchObject({ up: true, status: 200 });
    // The look that reported up had its connection held already: a kill from now on closes it.
    child.kill('SIGKILL');
    await until('down', () => changes.length === 2);
    // The kernel closes the dead process's sockets one by one: the held connection can close
    // first, and the look it triggers can be accepted into the listener's backlog just before the
    // listener goes too, which resets it. Refused or reset, it is the dead server that answered.
    expect(changes[1].facts).toMatchObject({ up: false, detail: expect.stringMatching(/^ECONN(REFUSED|RESET)$/) });
  });

  it('hold a new connection when the server closes an idle one, and stay up', async () => {
    // Node's client keeps no connection the server says it keeps idle 1 s or less (Keep-Alive: timeout=1).
    const srv = await server({ keepAliveTimeout: 2000 });
    const { changes } = watch([svc(srv.port)]);
    await until('up', () => changes.length === 1);
    // The idle close brings a new look on a new connection, which is held in turn.
    await until('an idle close answered', () => srv.connections() === 2 && srv.open.size === 1);
    expect(changes).toHaveLength(1);
    srv.s.close();
    srv.s.closeAllConnections();
    await until('down', () => changes.length === 2);
    // Refused, or reset when the look's connect was already queued as the server closed.
    expect(changes[1].facts).toMatchObject({ up: false, detail: expect.stringMatching(/^ECONN(REFUSED|RESET)$/) });
  });

  it('poll a server that closes after each answer, and say so once', async () => {
    const srv = await server({ close: true });
    const infos: { why?: string }[] = [];
    const log = { ...silentLogger, info: (o: { why?: string }) => infos.push(o), child: () => log } as Logger;
    const { changes } = watch([svc(srv.port, undefined, 200)], log);
    await until('up', () => changes.length === 1);
    await until('three looks', () => srv.connections() >= 3);
    expect(infos).toEqual([expect.objectContaining({ why: 'the server closes the connection after each answer (no keep-alive)' })]);
    srv.s.close();
    await until('down by polling', () => changes.length === 2);
    expect(changes[1].facts.up).toBe(false);
  });

  it('keep the connection past the probe timeout, and close it when stopped', async () => {
    const srv = await server();
    const { w, changes } = watch([{ ...svc(srv.port), probeTimeoutMs: 1000 }]);
    await until('up', () => changes.length === 1);
    // The probe's timeout ends its request, not the connection held after it.
    await new Promise((r) => setTimeout(r, 2500));
    expect([srv.connections(), srv.open.size, changes.length]).toEqual([1, 1, 1]);
    w.stop();
    await until('connection closed', () => srv.open.size === 0);
  });
});
