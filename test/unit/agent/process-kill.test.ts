import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runInstruction, type ActionRunContext } from '../../../agent/actions/index.js';
import { processKill } from '../../../agent/actions/process-kill.js';
import { parseAgentConfig } from '../../../agent/config.js';
import * as v from 'valibot';
import { ACTIONS, ERROR_CODES, check, pointerIssues, resultBody, silentLogger, type Result, type Run } from '../../../protocol/index.js';

const linux = process.platform === 'linux';
const config = parseAgentConfig({ controller: 'ws://127.0.0.1:7070', token: 't' }, 'agent.json');
const ctx: ActionRunContext = { config, log: silentLogger, timeoutMs: 5000, maxOutputBytes: 65_536 };
const params = (p: Record<string, unknown>) => v.parse(ACTIONS['process.kill'].params, p);

const dir = mkdtempSync(join(tmpdir(), 'laas-kill-'));
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A `sleep 30` under a name no other process has: the kernel names it after the link. */
async function sleeper(name?: string): Promise<ChildProcess> {
  let file = 'sleep';
  if (name) {
    file = join(dir, name);
    symlinkSync('/bin/sleep', file);
  }
  const child = spawn(file, ['30'], { stdio: 'ignore' });
  children.push(child);
  await new Promise((r, j) => {
    child.once('spawn', r);
    child.once('error', j);
  });
  return child;
}

function death(child: ChildProcess): Promise<NodeJS.Signals | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((r) => child.once('exit', (_, signal) => r(signal)));
}

function issues(p: Record<string, unknown>): string {
  const r = check(ACTIONS['process.kill'].params, p);
  if (r.ok) throw new Error(`expected ${JSON.stringify(p)} to be refused`);
  return pointerIssues(r.issues)
    .map((i) => `${i.pointer}: ${i.message}`)
    .join('; ');
}

describe('process.kill params', () => {
  it('defaults the signal to SIGTERM', () => {
    expect(params({ pid: 1234 })).toEqual({ pid: 1234, signal: 'SIGTERM' });
    expect(params({ name: 'nginx', signal: 'SIGHUP' })).toEqual({ name: 'nginx', signal: 'SIGHUP' });
  });

  const bad: [string, Record<string, unknown>, string][] = [
    ['both name and pid', { name: 'nginx', pid: 1234 }, '/: expected exactly one of "name" or "pid", got both'],
    ['neither name nor pid', { signal: 'SIGTERM' }, '/: expected exactly one of "name" (a process name) or "pid" (a process id)'],
    ['pid 1', { pid: 1 }, '/pid: expected a process id greater than 1: pid 1 (init) is never signalled'],
    ['pid 0', { pid: 0 }, '/pid: expected a process id greater than 1'],
    ['a negative pid (a process group)', { pid: -5 }, '/pid: expected a process id greater than 1'],
    ['a fractional pid', { pid: 12.5 }, '/pid: expected a process id (a whole number greater than 1)'],
    ['a pid as a string', { pid: '1234' }, '/pid: expected a process id (a whole number greater than 1)'],
    ['a signal not on the list', { pid: 1234, signal: 'SIGSTOP' }, '/signal: expected one of SIGTERM, SIGKILL, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2'],
    ['a signal number', { pid: 1234, signal: 9 }, '/signal: expected one of SIGTERM'],
    ['a name with a slash', { name: '/usr/sbin/nginx' }, '/name: expected a process name without "/"'],
    ['an empty name', { name: '' }, '/name: must not be empty'],
    ['an unknown field', { pid: 1234, force: true }, '/: unknown field "force"'],
  ];
  it.each(bad)('rejects %s', (_, p, expected) => {
    expect(issues(p)).toContain(expected);
  });
});

describe.runIf(linux)('process.kill', () => {
  it('signals a process by pid with the signal asked for', async () => {
    const child = await sleeper();
    const out = await processKill(params({ pid: child.pid!, signal: 'SIGUSR1' }), ctx);
    expect(out).toMatchObject({ outcome: 'succeeded', stdout: `signalled 1 process(es): ${child.pid}\n`, stderr: '' });
    expect(await death(child)).toBe('SIGUSR1');
  });

  it('signals every live process with a name, and only those', async () => {
    const name = `laas-k-${process.pid % 100000}`;
    const a = await sleeper(name);
    const b = spawn(join(dir, name), ['30'], { stdio: 'ignore' });
    children.push(b);
    await new Promise((r) => b.once('spawn', r));
    const bystander = await sleeper();
    const out = await processKill(params({ name }), ctx);
    expect(out.outcome).toBe('succeeded');
    expect(out.stdout).toMatch(/^signalled 2 process\(es\): \d+ \d+\n$/);
    expect(out.stdout.trim().split(': ')[1].split(' ').map(Number).sort()).toEqual([a.pid, b.pid].sort());
    expect(await death(a)).toBe('SIGTERM');
    expect(await death(b)).toBe('SIGTERM');
    expect(bystander.exitCode === null && bystander.signalCode === null).toBe(true);
  });

  it('fails, saying so, when no process has the name', async () => {
    const out = await processKill(params({ name: 'laas-surely-absent' }), ctx);
    expect(out).toMatchObject({ outcome: 'failed', error: { code: 'ACTION_TARGET_NOT_FOUND', message: 'no process named laas-surely-absent' } });
  });

  it('fails, saying so, when the pid is gone', async () => {
    const child = await sleeper();
    child.kill('SIGKILL');
    await death(child);
    const out = await processKill(params({ pid: child.pid! }), ctx);
    expect(out).toMatchObject({ outcome: 'failed', error: { code: 'ACTION_TARGET_NOT_FOUND', message: `no process ${child.pid}` } });
  });

  it('refuses the agent itself and its parent', async () => {
    expect(await processKill(params({ pid: process.pid, signal: 'SIGKILL' }), ctx)).toMatchObject({
      outcome: 'refused',
      error: { code: 'ACTION_NOT_ALLOWED', message: `pid ${process.pid} is the agent itself; the agent never signals it` },
    });
    expect(await processKill(params({ pid: process.ppid, signal: 'SIGKILL' }), ctx)).toMatchObject({
      outcome: 'refused',
      error: { code: 'ACTION_NOT_ALLOWED', message: `pid ${process.ppid} is the agent's parent; the agent never signals it` },
    });
  });

  it('refuses pid 1 even when a caller skips the catalogue', async () => {
    expect(await processKill({ pid: 1, signal: 'SIGTERM' }, ctx)).toMatchObject({ outcome: 'refused', error: { code: 'ACTION_NOT_ALLOWED' } });
  });

  it('refuses a thread of the agent, which would signal the agent', async () => {
    // libuv's thread pool (and V8's workers) are threads of this process with pids of their own.
    const { readdirSync } = await import('node:fs');
    const tid = readdirSync(`/proc/${process.pid}/task`)
      .map(Number)
      .find((t) => t !== process.pid);
    expect(tid).toBeDefined();
    expect(await processKill(params({ pid: tid! }), ctx)).toMatchObject({
      outcome: 'refused',
      error: { code: 'ACTION_NOT_ALLOWED', message: `pid ${tid} is the agent itself; the agent never signals it` },
    });
  });

  it('skips the agent when a name also matches it, and refuses when only the agent has it', async () => {
    // Tests run in a forked process: giving it a unique title renames it for the kernel too.
    const name = `laas-self-${process.pid % 100000}`;
    const title = process.title;
    process.title = name;
    try {
      expect(await processKill(params({ name }), ctx)).toMatchObject({
        outcome: 'refused',
        error: {
          code: 'ACTION_NOT_ALLOWED',
          message: `every process named ${name} is one the agent never signals (skipped pid ${process.pid}: the agent itself)`,
        },
      });
      const other = await sleeper(name);
      const out = await processKill(params({ name }), ctx);
      expect(out).toMatchObject({
        outcome: 'succeeded',
        stdout: `signalled 1 process(es): ${other.pid}\n`,
        stderr: `skipped pid ${process.pid}: the agent itself\n`,
      });
      expect(await death(other)).toBe('SIGTERM');
    } finally {
      process.title = title;
    }
  });
});

describe.runIf(linux)('process.kill through runInstruction', () => {
  const run = (p: Record<string, unknown>): Run => ({
    id: 'k1',
    host: 'h',
    action: 'process.kill',
    params: p,
    timeoutMs: 10_000,
    deadline: Date.now() + 60_000,
  });
  async function instruct(r: Run): Promise<Result> {
    const result = await runInstruction(r, { config, log: silentLogger });
    expect(check(resultBody, result)).toMatchObject({ ok: true });
    if (result.error) expect(Object.hasOwn(ERROR_CODES, result.error.code)).toBe(true);
    return result;
  }

  it('kills a process by pid from a wire instruction', async () => {
    const child = await sleeper();
    const r = await instruct(run({ pid: child.pid, signal: 'SIGKILL' }));
    expect(r).toMatchObject({ id: 'k1', action: 'process.kill', outcome: 'succeeded', stdout: `signalled 1 process(es): ${child.pid}\n` });
    expect(await death(child)).toBe('SIGKILL');
  });

  it('refuses bad params before looking at any process', async () => {
    const r = await instruct(run({ name: 'x', pid: 5 }));
    expect(r).toMatchObject({ outcome: 'refused', error: { code: 'ACTION_BAD_PARAMS' } });
    expect(r.error!.message).toContain('/params: expected exactly one of "name" or "pid", got both');
    expect((await instruct(run({ pid: 1 }))).error!.message).toContain('/params/pid: expected a process id greater than 1');
  });
});
