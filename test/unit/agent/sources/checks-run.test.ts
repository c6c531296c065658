import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv } from '../../../../agent/child-env.js';
import type { CheckConfig } from '../../../../agent/sources/checks/config.js';
import { runCheck, type CheckFact } from '../../../../agent/sources/checks/run.js';
import { checkFacts } from '../../../../protocol/index.js';

const PLUGINS = '/usr/lib/nagios/plugins';
const env = childEnv(process.env);
const dir = mkdtempSync(join(tmpdir(), 'laas-checks-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const check = (command: string[], extra: Partial<CheckConfig> = {}): CheckConfig => ({ name: 't', command, intervalMs: 60_000, timeoutMs: 10_000, ...extra });

/** Runs a check and proves the wire would take its fact as it is. */
async function run(c: CheckConfig): Promise<CheckFact> {
  const fact = await runCheck(c, { env });
  const parsed = v.safeParse(checkFacts, fact);
  expect(parsed.issues).toBeUndefined();
  return fact;
}

function script(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

/** Why the Monitoring Plugins cannot be used here; under CI=true their absence fails the run. */
function pluginsMissing(): boolean {
  if (existsSync(join(PLUGINS, 'check_http')) && existsSync(join(PLUGINS, 'check_disk'))) return false;
  const reason = 'Monitoring Plugins not found (install the Debian packages "monitoring-plugins-basic" and "monitoring-plugins-standard")';
  if (process.env.CI) throw new Error(`CI: ${reason}`);
  console.warn(`skipping the real-plugin tests: ${reason}`);
  return true;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(what: string, ok: () => boolean, limitMs = 10_000): Promise<void> {
  for (let waited = 0; !ok(); waited += 50) {
    if (waited > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(pluginsMissing())('real Monitoring Plugins (Debian monitoring-plugins-basic/-standard)', () => {
  let tcp: Server;
  let http: HttpServer;
  let tcpPort = 0;
  let httpPort = 0;
  let httpStatus = 200;
  beforeAll(async () => {
    tcp = createServer((s) => s.end());
    http = createHttpServer((_req, res) => {
      res.writeHead(httpStatus, { 'content-type': 'text/plain' });
      res.end('hello from the test\n');
    });
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    tcpPort = (tcp.address() as { port: number }).port;
    httpPort = (http.address() as { port: number }).port;
  });
  afterAll(async () => {
    http.closeAllConnections();
    await Promise.all([new Promise((r) => tcp.close(r)), new Promise((r) => http.close(r))]);
  });

  it('check_load: ok, with load1/5/15 perfdata and numeric thresholds', async () => {
    const f = await run(check([join(PLUGINS, 'check_load'), '-w', '1000,1000,1000', '-c', '2000,2000,2000']));
    expect(f).toMatchObject({ status: 0, state: 'ok' });
    expect(f.output).toMatch(/^LOAD OK/);
    expect(f.perf.load1).toMatchObject({ uom: '', warn: 1000, crit: 2000, min: 0 });
    expect(Object.keys(f.perf)).toEqual(['load1', 'load5', 'load15']);
  });

  it('check_disk: the root filesystem in bytes; critical when no free share is enough', async () => {
    const ok = await run(check([join(PLUGINS, 'check_disk'), '-w', '0%', '-c', '0%', '-p', '/']));
    expect(ok).toMatchObject({ status: 0, state: 'ok' });
    expect(ok.perf['/'].value).toBeGreaterThan(0);
    expect(ok.perf['/'].max).toBeGreaterThan(ok.perf['/'].value);
    const crit = await run(check([join(PLUGINS, 'check_disk'), '-w', '100%', '-c', '100%', '-p', '/']));
    expect(crit).toMatchObject({ status: 2, state: 'critical' });
    expect(crit.output).toMatch(/^DISK CRITICAL/);
  });

  it('check_procs: range thresholds come back as their text', async () => {
    const ok = await run(check([join(PLUGINS, 'check_procs'), '-w', '1:', '-c', '1:', '-C', 'node']));
    expect(ok).toMatchObject({ status: 0, state: 'ok' });
    expect(ok.perf.procs).toMatchObject({ warn: '1:', crit: '1:' });
    const none = await run(check([join(PLUGINS, 'check_procs'), '-c', '1:', '-C', 'no-such-process-laas']));
    expect(none).toMatchObject({ status: 2, state: 'critical', perf: { procs: { value: 0, crit: '1:' } } });
  });

  it('check_tcp: ok against a local listener, critical once it is gone', async () => {
    const ok = await run(check([join(PLUGINS, 'check_tcp'), '-H', '127.0.0.1', '-p', String(tcpPort)]));
    expect(ok).toMatchObject({ status: 0, state: 'ok' });
    expect(ok.perf.time).toMatchObject({ uom: 's' });
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const down = await run(check([join(PLUGINS, 'check_tcp'), '-H', '127.0.0.1', '-p', String(port)]));
    expect(down).toMatchObject({ status: 2, state: 'critical' });
    expect(down.output).toMatch(/Connection refused/);
  });

  it('check_http: ok on 200, critical on 500, with time and size perfdata', async () => {
    const cmd = [join(PLUGINS, 'check_http'), '-H', '127.0.0.1', '-p', String(httpPort), '-u', '/health'];
    httpStatus = 200;
    const ok = await run(check(cmd));
    expect(ok).toMatchObject({ status: 0, state: 'ok' });
    expect(ok.output).toMatch(/^HTTP OK/);
    expect(ok.perf.time).toMatchObject({ uom: 's' });
    expect(ok.perf.size).toMatchObject({ uom: 'B' });
    httpStatus = 500;
    const down = await run(check(cmd));
    expect(down).toMatchObject({ status: 2, state: 'critical' });
    expect(down.output).toMatch(/500/);
  });
});

describe('bad plugins become unknown with the reason, never a crash', () => {
  it('maps exit 0-3 to ok/warning/critical/unknown and reads stderr when stdout is empty', async () => {
    for (const [code, state] of [
      [0, 'ok'],
      [1, 'warning'],
      [2, 'critical'],
      [3, 'unknown'],
    ] as const) {
      expect(await run(check([script(`exit${code}`, `echo "STATE ${code} | x=${code}"; exit ${code}`)]))).toMatchObject({
        status: code,
        state,
        output: `STATE ${code}`,
        perf: { x: { value: code, uom: '' } },
      });
    }
    expect(await run(check([script('stderr', 'echo "only on stderr" >&2; exit 2')]))).toMatchObject({ state: 'critical', output: 'only on stderr' });
    expect(await run(check([script('silent', 'exit 1')]))).toMatchObject({ state: 'warning', output: '(no output)' });
  });

  it('exit 127 (the shell found no command), another code, a signal, a missing program', async () => {
    expect(await run(check([script('e127', 'exec /nonexistent/laas-plugin')]))).toMatchObject({
      status: 3,
      state: 'unknown',
      output: expect.stringMatching(/^exited with code 127 \(command not found\)/),
    });
    expect(await run(check([script('e42', 'echo odd; exit 42')]))).toMatchObject({ status: 3, state: 'unknown', output: 'exited with code 42: odd' });
    expect(await run(check([script('segv', 'kill -SEGV $$')]))).toMatchObject({ status: 3, state: 'unknown', output: 'killed by SIGSEGV' });
    expect(await run(check(['/nonexistent/check_x']))).toMatchObject({
      status: 3,
      state: 'unknown',
      output: expect.stringMatching(/^cannot start \/nonexistent\/check_x: .*ENOENT/),
    });
  });

  it('garbage output still makes a fact the wire takes', async () => {
    const f = await run(check([script('garbage', "head -c 20000 /dev/urandom; printf '\\n| a=1 b==2 c=x;;; \\0=3\\n'; exit 1")]));
    expect(f.state).toBe('warning');
  });

  it('megabytes of output: the first 64 KiB are read and the rest dropped', async () => {
    const f = await run(check([script('flood', "echo 'FLOOD OK | first=1'; head -c 20000000 /dev/zero | tr '\\0' 'y'; echo; echo '| late=2'")]));
    expect(f).toMatchObject({ state: 'ok', output: 'FLOOD OK', perf: { first: { value: 1, uom: '' } } });
    expect(f.perf.late).toBeUndefined();
    expect(f.longOutput).toMatch(/\(output cut at 65536 bytes\)$/);
    expect(f.longOutput!.length).toBeLessThanOrEqual(16_384);
  });

  it('a hanging plugin times out, and its whole process group dies, grandchildren too', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    // The plugin ignores SIGTERM and leaves a grandchild that does too: only SIGKILL to the group ends them.
    const hang = script('hang', `trap '' TERM\n(trap '' TERM; sleep 1000) &\necho $! > ${pidFile}\necho started\nsleep 1000`);
    const f = await run(check([hang], { timeoutMs: 300 }));
    expect(f).toMatchObject({ status: 3, state: 'unknown', output: 'timed out after 300ms', longOutput: 'started' });
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    expect(grandchild).toBeGreaterThan(1);
    await until(`grandchild ${grandchild} to be killed`, () => !alive(grandchild));
  });
});
