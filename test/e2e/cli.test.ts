import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, freePort, laasRun, stopAll, tcpAnswers, waitFor } from '../helpers/procs.js';
import { spawn } from 'node:child_process';

/** The shipped rule files and rule tests, counted from the tree: each area of the project adds its own. */
const shipped = readdirSync('rules', { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.json'));
const shippedTests = shipped.filter((f) => f.endsWith('.test.json')).length;
const shippedRules = shipped.length - shippedTests;

describe('laas rules validate', () => {
  it('passes the shipped rules with exit 0', async () => {
    const r = await laasRun(['rules', 'validate', 'rules']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^ok: ${shippedRules} rules in ${shippedRules} files$`, 'm'));
  });

  it('prints every error with file and JSON pointer and exits 1', async () => {
    const r = await laasRun(['rules', 'validate', 'test/fixtures/bad-rules/team', 'test/fixtures/bad-rules/dup/b.json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('test/fixtures/bad-rules/team/unknown-action.json /heal/action: unknown action "host.reboot"');
    expect(r.stderr).toContain('test/fixtures/bad-rules/team/not-json.json:5:1: not valid JSON');
    expect(r.stderr).toMatch(/^\d+ errors in 29 files$/m);
  });
});

describe('laas rules test', () => {
  it('passes the tests shipped with the rules', async () => {
    const r = await laasRun(['rules', 'test', 'rules']);
    expect(r.stdout).toMatch(/^ok {4}rules\/demo\/demo-down\.test\.json \(1 alert, 1 work order, 0 notifications(; not enough data: [^)]*)?\)$/m);
    expect(r.stdout).toMatch(new RegExp(`^${shippedTests} passed, 0 failed$`, 'm'));
    expect(r.code).toBe(0);
  });

  it('replays a ladder on simulated time, and says exactly what differs when a test fails', async () => {
    const r = await laasRun(['rules', 'test', 'test/fixtures/rule-tests']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('ok    test/fixtures/rule-tests/web/svc-ladder.test.json (1 alert, 1 work order, 2 notifications)');
    expect(r.stdout).toContain('FAIL  test/fixtures/rule-tests/web/svc-wrong.test.json\n    heals[0].state: expected "succeeded", got "failed"');
    expect(r.stdout).toMatch(/^1 passed, 1 failed$/m);
  });

  it('reports a bad test file with its JSON pointer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'laas-rt-'));
    try {
      cpSync('test/fixtures/rule-tests/web', join(dir, 'web'), { recursive: true });
      const bad = join(dir, 'web', 'bad.test.json');
      writeFileSync(bad, JSON.stringify({ hosts: { a: {} }, timeline: [{ at: 'soon', host: 'b' }], expect: {} }));
      const r = await laasRun(['rules', 'test', bad]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(`${bad} /timeline/0/at: expected a duration like "10s", "5m" or "7d", got "soon"`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** What the README promises: `npm start` (laas up) runs the loop, and the demo heals. */
describe('laas up', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'laas-up-'));
  afterAll(async () => {
    await stopAll();
    try {
      process.kill(Number(readFileSync(join(cwd, 'data/demo.pid'), 'utf8')), 'SIGKILL');
    } catch {
      /* gone */
    }
    rmSync(cwd, { recursive: true, force: true });
  });

  it('starts controller, agent and demo service, and heals the demo when it is killed', async () => {
    cpSync('rules', join(cwd, 'rules'), { recursive: true });
    const [port, demoPort] = [await freePort(), await freePort()];
    const up = spawn(process.execPath, [CLI, 'up', '--port', String(port), '--demo-port', String(demoPort)], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    up.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    try {
      await waitFor('laas up to say it is up', () => err.includes('laas is up'), 15_000);
      expect(err).toContain(`controller http://127.0.0.1:${port}`);
      const url = `http://127.0.0.1:${port}`;
      await waitFor('the local agent', async () =>
        ((await (await fetch(`${url}/api/v1/hosts`)).json()) as { id: string; connected: boolean }[]).some((h) => h.id === 'local' && h.connected),
      );
      expect(await tcpAnswers(demoPort)).toBe(true);
      const pidfile = join(cwd, 'data/demo.pid');
      const pid = Number(readFileSync(pidfile, 'utf8'));
      process.kill(pid, 'SIGKILL');
      await waitFor('the demo to be healed', async () => Number(readFileSync(pidfile, 'utf8')) !== pid && tcpAnswers(demoPort), 15_000);
      const heals = await laasRun(['heals', '--url', url]);
      expect(heals.code).toBe(0);
      expect(heals.stdout).toMatch(/^ID\s+RULE\s+HOST\s+ACTION\s+STATE/m);
      await waitFor('the work order to succeed', async () => (await laasRun(['heals', '--url', url, '--json'])).stdout.includes('"state": "succeeded"'));
      const alerts = JSON.parse((await laasRun(['alerts', '--url', url, '--json'])).stdout) as { rule: string; host: string }[];
      expect(alerts).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'demo/demo-down', host: 'local' })]));
      expect(resolve(cwd, 'data/laas.json')).toBeTruthy();
      expect(JSON.parse(readFileSync(join(cwd, 'data/laas.json'), 'utf8')).version).toBe(1);
    } finally {
      up.kill('SIGTERM');
      await new Promise((r) => up.once('exit', r));
    }
    expect(up.exitCode).toBe(0);
  });

  it('run again on the same data dir, its local agent is let back in (a new token each run, one claimant of the id)', async () => {
    const port = await freePort();
    const up = spawn(process.execPath, [CLI, 'up', '--port', String(port), '--no-demo'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    up.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    try {
      await waitFor(
        'the local agent back',
        async () =>
          ((await (await fetch(`http://127.0.0.1:${port}/api/v1/hosts`)).json()) as { id: string; connected: boolean }[]).some(
            (h) => h.id === 'local' && h.connected,
          ),
        20_000,
      );
      expect(err).not.toContain('AGENT_ID_CLAIMED');
    } finally {
      up.kill('SIGTERM');
      await new Promise((r) => up.once('exit', r));
    }
  });

  it('says how to reach a controller that is not running', async () => {
    const r = await laasRun(['hosts', '--url', `http://127.0.0.1:${await freePort()}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach the controller at .*; is it running\? Use --url or LAAS_URL/);
  });
});
