import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PROBES } from '../../../agent/probes/index.js';

const linux = process.platform === 'linux';
const children: ChildProcess[] = [];
const servers: (Server | HttpServer)[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise((r) => {
          if ('closeAllConnections' in s) s.closeAllConnections();
          s.close(r);
        }),
    ),
  );
});

function listen<S extends Server | HttpServer>(server: S): Promise<number> {
  servers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** A port nothing listens on: bound once, then closed. */
async function freePort(): Promise<number> {
  const s = createServer();
  const port = await new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
  await new Promise((r) => s.close(r));
  return port;
}

describe('tcp probe', () => {
  it('is up while a server listens and down once it is gone', async () => {
    const port = await listen(createServer((socket) => socket.end()));
    expect(await PROBES.tcp(`127.0.0.1:${port}`, 1000)).toEqual({ up: true });
    const closed = await freePort();
    expect(await PROBES.tcp(`127.0.0.1:${closed}`, 1000)).toEqual({ up: false, detail: 'ECONNREFUSED' });
  });

  it('is down no later than its timeout on an address that never answers', async () => {
    const started = Date.now();
    // 192.0.2.0/24 is reserved for documentation: nothing answers there (or the network refuses at once).
    const r = await PROBES.tcp('192.0.2.1:9', 150);
    expect(r.up).toBe(false);
    // Not a speed claim: a connect that nobody answers would hang for the kernel's SYN retries (~2 min).
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('reports a malformed target as down, not as an exception', async () => {
    expect(await PROBES.tcp('nonsense', 100)).toMatchObject({ up: false, detail: expect.stringContaining('host:port') });
  });
});

describe('http probe', () => {
  it('is up on 2xx, down on other statuses, errors and timeouts', async () => {
    const port = await listen(
      createHttpServer((req, res) => {
        if (req.url === '/slow') {
          setTimeout(() => res.end('late'), 2000).unref();
          return;
        }
        res.statusCode = req.url === '/ok' ? 204 : 503;
        res.end();
      }),
    );
    expect(await PROBES.http(`http://127.0.0.1:${port}/ok`, 1000)).toMatchObject({ up: true });
    expect(await PROBES.http(`http://127.0.0.1:${port}/broken`, 1000)).toMatchObject({ up: false, detail: 'HTTP 503', status: 503 });
    expect(await PROBES.http(`http://127.0.0.1:${port}/slow`, 100)).toEqual({ up: false, detail: 'no answer within 100ms' });
    expect(await PROBES.http(`http://127.0.0.1:${await freePort()}/`, 1000)).toEqual({ up: false, detail: 'ECONNREFUSED' });
  });

  it('follows redirects as fetch does, and calls a redirect loop down', async () => {
    const port = await listen(
      createHttpServer((req, res) => {
        if (req.url === '/old') {
          res.statusCode = 301;
          res.setHeader('location', '/new');
          return res.end();
        }
        if (req.url === '/loop') {
          res.statusCode = 302;
          res.setHeader('location', '/loop');
          return res.end();
        }
        res.statusCode = req.url === '/new' ? 200 : 404;
        res.end('body the probe does not read');
      }),
    );
    expect(await PROBES.http(`http://127.0.0.1:${port}/old`, 1000)).toMatchObject({ up: true });
    expect(await PROBES.http(`http://127.0.0.1:${port}/loop`, 1000)).toMatchObject({ up: false, detail: 'redirect count exceeded' });
    expect(await PROBES.http(`http://127.0.0.1:${port}/gone`, 1000)).toMatchObject({ up: false, detail: 'HTTP 404', status: 404 });
  });
});

describe.runIf(linux)('process probe', () => {
  const dir = mkdtempSync(join(tmpdir(), 'laas-probe-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds a running process by name and not one that is gone', async () => {
    // A uniquely named link to sleep: the kernel names the process after the link.
    const name = `laas-sl-${process.pid % 100000}`;
    symlinkSync('/usr/bin/sleep', join(dir, name));
    expect(await PROBES.process(name, 1000)).toEqual({ up: false, detail: `no process named ${name}` });
    const child = spawn(join(dir, name), ['30'], { stdio: 'ignore' });
    children.push(child);
    await new Promise((r) => child.once('spawn', r));
    expect(await PROBES.process(name, 1000)).toEqual({ up: true });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect((await PROBES.process(name, 1000)).up).toBe(false);
  });

  it('finds a plain `sleep` child', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(child);
    await new Promise((r) => child.once('spawn', r));
    expect(await PROBES.process('sleep', 1000)).toEqual({ up: true });
  });

  it('matches argv[0] when the name is longer than the kernel keeps', async () => {
    const name = 'laas-a-very-long-process-name';
    symlinkSync('/usr/bin/sleep', join(dir, name));
    const child = spawn(join(dir, name), ['30'], { stdio: 'ignore' });
    children.push(child);
    await new Promise((r) => child.once('spawn', r));
    expect(await PROBES.process(name, 1000)).toEqual({ up: true });
    expect((await PROBES.process(`${name}-not`, 1000)).up).toBe(false);
  });

  it('does not count a zombie as running', async () => {
    const name = 'laas-zombie';
    symlinkSync('/usr/bin/true', join(dir, name));
    // sh starts the child, then becomes `sleep`, which never reaps it: the child stays a zombie.
    const parent = spawn('sh', ['-c', '"$1" & exec sleep 30', 'sh', join(dir, name)], { stdio: 'ignore' });
    children.push(parent);
    let zombie = false;
    for (let i = 0; i < 100 && !zombie; i++) {
      await new Promise((r) => setTimeout(r, 20));
      zombie = readFileSync('/proc/' + parent.pid + '/task/' + parent.pid + '/children', 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .some((pid) => {
          try {
            return / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').pop()!);
          } catch {
            return false;
          }
        });
    }
    expect(zombie).toBe(true);
    expect(await PROBES.process(name, 1000)).toEqual({ up: false, detail: `only zombie processes named ${name}` });
  });
});

describe('systemd probe', () => {
  it('is down, with the reason, for a unit that does not exist (or without systemd)', async () => {
    const r = await PROBES.systemd('laas-surely-missing.service', 2000);
    expect(r.up).toBe(false);
    expect(r.detail).toBeTruthy();
  });
});
