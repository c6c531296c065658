import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ServiceConfig } from '../../../agent/config.js';
import { PROBES } from '../../../agent/probes/index.js';
import { hold } from '../../../agent/probes/tcp.js';
import { ServiceWatcher } from '../../../agent/services.js';
import { silentLogger, type ServiceFacts } from '../../../protocol/index.js';

/** Probes that learn of a service's death at once: a held tcp connection, and a pid file. */
const linux = process.platform === 'linux';
const children: ChildProcess[] = [];
const servers: Server[] = [];
const watchers: ServiceWatcher[] = [];
const dir = mkdtempSync(join(tmpdir(), 'laas-probe-event-'));

afterEach(async () => {
  for (const w of watchers.splice(0)) w.stop();
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms}ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A TCP server in this process on a free loopback port (closed after each test), counting the connections it accepts. */
async function localServer(onSocket: (socket: Socket) => void): Promise<{ server: Server; port: number; accepted: () => number }> {
  const server = createServer(onSocket);
  servers.push(server);
  let accepted = 0;
  server.on('connection', () => {
    accepted++;
  });
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)));
  return { server, port, accepted: () => accepted };
}

/** A TCP server in a child process of its own (so SIGKILL is a real process death); resolves with its port. */
async function serverProcess(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `
    const s = require('node:net').createServer(() => {});
    s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));
  `,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  return { child, port };
}

function watch(service: ServiceConfig) {
  const changes: { facts: ServiceFacts; at: number }[] = [];
  const w = new ServiceWatcher({ services: [service], log: silentLogger, onChange: (_n, facts) => changes.push({ facts, at: Date.now() }) });
  watchers.push(w);
  w.start();
  return changes;
}

describe('tcp probe holding its connection', () => {
  it('calls onLost the moment the service process is killed', async () => {
    const { child, port } = await serverProcess();
    let lostAt = 0;
    let why = '';
    const r = await hold(`127.0.0.1:${port}`, 1000, (w) => {
      lostAt = Date.now();
      why = w;
    });
    expect(r.up).toBe(true);
    expect(r.held).toBeDefined();
    const killedAt = Date.now();
    child.kill('SIGKILL');
    await until('onLost', () => lostAt > 0);
    // The kernel closes the dead process's sockets: no probe period is involved. Generous for a busy machine.
    expect(lostAt - killedAt).toBeLessThan(1000);
    expect(why).toMatch(/closed|ECONNRESET/);
    r.held!.release();
  });

  it('does not call onLost after release, and holds nothing when the service is down', async () => {
    const { server, port } = await localServer(() => {});
    let lost = 0;
    const r = await hold(`127.0.0.1:${port}`, 1000, () => {
      lost++;
    });
    r.held!.release();
    await new Promise((res) => server.close(res));
    await new Promise((res) => setTimeout(res, 100));
    expect(lost).toBe(0);
    const down = await hold(`127.0.0.1:${port}`, 1000, () => {
      lost++;
    });
    expect(down).toEqual({ up: false, detail: 'ECONNREFUSED' });
  });
});

describe('ServiceWatcher with a held tcp probe', () => {
  it('reports a killed service down long before the next probe is due', async () => {
    const { child, port } = await serverProcess();
    // A 10 s probe interval: only the held connection can explain a report within a second.
    const changes = watch({ name: 'svc', probe: { kind: 'tcp', target: `127.0.0.1:${port}`, hold: true }, probeIntervalMs: 10_000, probeTimeoutMs: 1000 });
    await until('first state', () => changes.length === 1);
    expect(changes[0].facts.up).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    const killedAt = Date.now();
    child.kill('SIGKILL');
    await until('down reported', () => changes.length === 2, 5000);
    expect(changes[1].facts).toMatchObject({ up: false, detail: 'ECONNREFUSED' });
    expect(changes[1].at - killedAt).toBeLessThan(1000);
  });

  it('does not report a service that merely closes idle connections as down', async () => {
    // Every connection is closed by the server after 600 ms, as a keep-alive timeout would.
    const { port, accepted } = await localServer((socket) => {
      setTimeout(() => socket.end(), 600);
    });
    const changes = watch({ name: 'svc', probe: { kind: 'tcp', target: `127.0.0.1:${port}`, hold: true }, probeIntervalMs: 10_000, probeTimeoutMs: 1000 });
    await until('first state', () => changes.length === 1);
    // Each close makes the watcher connect again at once (to confirm): reconnects, no fault.
    await until('several re-probes', () => accepted() >= 3, 8000);
    expect(changes).toHaveLength(1);
    expect(changes[0].facts.up).toBe(true);
  });

  it('does not reconnect in a loop to a service that closes every connection at once', async () => {
    const { port, accepted } = await localServer((socket) => socket.end());
    const changes = watch({ name: 'svc', probe: { kind: 'tcp', target: `127.0.0.1:${port}`, hold: true }, probeIntervalMs: 10_000, probeTimeoutMs: 1000 });
    await until('first state', () => changes.length === 1);
    await new Promise((r) => setTimeout(r, 2000));
    // The first probe, a burst of three looks, then about two a second — not hundreds.
    expect(accepted()).toBeGreaterThanOrEqual(4);
    expect(accepted()).toBeLessThanOrEqual(10);
    expect(changes).toHaveLength(1);
  });

  it('releases the held connection when stopped', async () => {
    const { server, port } = await localServer(() => {});
    const changes = watch({ name: 'svc', probe: { kind: 'tcp', target: `127.0.0.1:${port}`, hold: true }, probeIntervalMs: 10_000, probeTimeoutMs: 1000 });
    await until('first state', () => changes.length === 1);
    const open = () => new Promise<number>((r) => server.getConnections((_e, n) => r(n)));
    expect(await open()).toBe(1);
    watchers[0].stop();
    let n = 1;
    await until(
      'connection closed',
      () => {
        void open().then((x) => {
          n = x;
        });
        return n === 0;
      },
      3000,
    );
  });
});

describe.runIf(linux)('pidfile probe', () => {
  it('is up for a live pid, down once the process is gone, and says why', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(child);
    await new Promise((r) => child.once('spawn', r));
    const file = join(dir, 'sleep.pid');
    writeFileSync(file, `${child.pid}\n`);
    expect(await PROBES.pidfile(file, 1000)).toEqual({ up: true });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(await PROBES.pidfile(file, 1000)).toEqual({ up: false, detail: `process ${child.pid} (from ${file}) is gone` });
  });

  it('does not count a zombie (killed, never reaped) as running', async () => {
    // sh starts `sleep 30` in the background, then becomes another sleep that never reaps it.
    const parent = spawn('sh', ['-c', 'sleep 30 & echo $! > "$1"; exec sleep 30', 'sh', join(dir, 'child.pid')], { stdio: 'ignore' });
    children.push(parent);
    const file = join(dir, 'child.pid');
    await until('pid file', () => {
      try {
        return /^\d+\n$/.test(readFileSync(file, 'utf8'));
      } catch {
        return false;
      }
    });
    const pid = Number(readFileSync(file, 'utf8'));
    expect(await PROBES.pidfile(file, 1000)).toEqual({ up: true });
    process.kill(pid, 'SIGKILL');
    await until('zombie', () => / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').pop()!));
    expect(await PROBES.pidfile(file, 1000)).toEqual({ up: false, detail: `process ${pid} (from ${file}) is dead, a zombie its parent has not reaped` });
  });

  it('is down with the reason for a missing or garbled pid file', async () => {
    expect(await PROBES.pidfile(join(dir, 'none.pid'), 1000)).toEqual({ up: false, detail: `no pid file ${join(dir, 'none.pid')}` });
    const bad = join(dir, 'bad.pid');
    writeFileSync(bad, 'not a pid');
    expect(await PROBES.pidfile(bad, 1000)).toEqual({ up: false, detail: `${bad} holds no pid: "not a pid"` });
  });

  it('does not follow a pid file that is a symbolic link, even to a valid pid file', async () => {
    const real = join(dir, 'real.pid');
    writeFileSync(real, `${process.pid}\n`);
    expect(await PROBES.pidfile(real, 1000)).toEqual({ up: true });
    const link = join(dir, 'link.pid');
    symlinkSync(real, link);
    expect(await PROBES.pidfile(link, 1000)).toEqual({
      up: false,
      detail: `${link} is a symbolic link; a pid file must be a regular file (links are not followed)`,
    });
  });

  it('reads at most 64 bytes, and never waits on a FIFO or reads a device', async () => {
    const big = join(dir, 'big.pid');
    writeFileSync(big, `${process.pid}${' '.repeat(100)}\n`);
    expect(await PROBES.pidfile(big, 1000)).toEqual({ up: false, detail: `${big} is larger than 64 bytes: not a pid file` });
    const fits = join(dir, 'fits.pid');
    writeFileSync(fits, `${process.pid}`.padEnd(63, ' ') + '\n');
    expect(await PROBES.pidfile(fits, 1000)).toEqual({ up: true });
    const fifo = join(dir, 'fifo.pid');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    expect(await PROBES.pidfile(fifo, 1000)).toEqual({ up: false, detail: `${fifo} is not a regular file` });
    expect(await PROBES.pidfile('/dev/zero', 1000)).toEqual({ up: false, detail: '/dev/zero is not a regular file' });
  });
});
