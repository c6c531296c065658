import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanup, diskCleanup, globToRegExp, within } from '../../../agent/actions/disk-cleanup.js';
import { runInstruction, type ActionOutput, type ActionRunContext } from '../../../agent/actions/index.js';
import { parseAgentConfig } from '../../../agent/config.js';
import * as v from 'valibot';
import { ACTIONS, LaasError, check, pointerIssues, resultBody, silentLogger, type Run } from '../../../protocol/index.js';

const DAY = 86_400_000;
let base: string;
let root: string;
let outside: string;

beforeEach(() => {
  // Real path: on some systems the temp dir itself is reached through a link.
  base = realpathSync(mkdtempSync(join(tmpdir(), 'laas-cleanup-')));
  root = join(base, 'root');
  outside = join(base, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

/** Writes a file last modified `ageDays` ago. */
function file(path: string, ageDays: number, content = 'x'.repeat(10)): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  const t = (Date.now() - ageDays * DAY) / 1000;
  utimesSync(path, t, t);
  return path;
}

function ctxFor(roots: string[]): ActionRunContext {
  const config = parseAgentConfig({ controller: 'ws://127.0.0.1:7070', token: 't', cleanupRoots: roots }, 'agent.json');
  return { config, log: silentLogger, timeoutMs: 60_000, maxOutputBytes: 65_536 };
}

const params = (p: Record<string, unknown>) => v.parse(ACTIONS['disk.cleanup'].params, p);

function counts(out: ActionOutput): Record<string, unknown> {
  expect(out.stdout.endsWith('\n')).toBe(true);
  expect(out.stdout.trim().split('\n')).toHaveLength(1);
  return JSON.parse(out.stdout) as Record<string, unknown>;
}

describe('disk.cleanup params', () => {
  it('keeps the duration a string on the wire and gives the handler milliseconds', () => {
    expect(params({ path: '/var/log/app', olderThan: '7d' })).toEqual({
      path: '/var/log/app',
      olderThan: 7 * DAY,
      pattern: '*',
      dryRun: false,
      recursive: true,
    });
  });

  function issues(p: Record<string, unknown>): string {
    const r = check(ACTIONS['disk.cleanup'].params, p);
    if (r.ok) throw new Error(`expected ${JSON.stringify(p)} to be refused`);
    return pointerIssues(r.issues)
      .map((i) => `${i.pointer}: ${i.message}`)
      .join('; ');
  }
  const bad: [string, Record<string, unknown>, string][] = [
    ['a number for olderThan', { path: '/var/log', olderThan: 7 }, '/olderThan: expected a duration like "7d", got 7'],
    ['a spelled-out duration', { path: '/var/log', olderThan: '7 days' }, '/olderThan: expected a duration like "10s", "5m" or "7d", got "7 days"'],
    ['an age too young to be safe', { path: '/var/log', olderThan: '10s' }, '/olderThan: must be at least "1m"'],
    ['a missing olderThan', { path: '/var/log' }, '/olderThan: expected a duration like "7d", got undefined'],
    ['a relative path', { path: 'var/log', olderThan: '7d' }, '/path: expected an absolute path like "/var/log/app"'],
    ['a path that is not a string', { path: ['/var/log'], olderThan: '7d' }, '/path: expected an absolute path'],
    ['a pattern with a directory', { path: '/var/log', olderThan: '7d', pattern: 'app/*.log' }, '/pattern: expected a pattern on the file name alone (no "/")'],
    ['an empty pattern', { path: '/var/log', olderThan: '7d', pattern: '' }, '/pattern: must not be empty'],
    ['a dryRun that is not a boolean', { path: '/var/log', olderThan: '7d', dryRun: 'yes' }, '/dryRun: expected true or false'],
    ['an unknown field', { path: '/var/log', olderThan: '7d', force: true }, '/: unknown field "force"'],
  ];
  it.each(bad)('rejects %s', (_, p, expected) => {
    expect(issues(p)).toContain(expected);
  });
});

describe('cleanupRoots in the agent config', () => {
  const cfg = (roots: unknown) => parseAgentConfig({ controller: 'ws://127.0.0.1:7070', token: 't', cleanupRoots: roots }, 'agent.json');
  const message = (roots: unknown) => {
    try {
      cfg(roots);
    } catch (e) {
      expect(e).toBeInstanceOf(LaasError);
      return (e as LaasError).message;
    }
    throw new Error('expected the config to be rejected');
  };

  it('normalises the roots and defaults to none', () => {
    expect(cfg(['/var/log/app/', '/srv/../tmp/x', '/var/log/app']).cleanupRoots).toEqual(['/var/log/app', '/tmp/x']);
    expect(parseAgentConfig({ controller: 'ws://127.0.0.1:7070', token: 't' }, 'agent.json').cleanupRoots).toEqual([]);
  });

  it('rejects a relative root, the filesystem root, and a string', () => {
    expect(message(['var/log'])).toContain('agent.json /cleanupRoots/0: expected an absolute directory path like "/var/log/app"');
    expect(message(['/'])).toContain('agent.json /cleanupRoots/0: the filesystem root may not be a cleanup root');
    expect(message(['/var/..'])).toContain('agent.json /cleanupRoots/0: the filesystem root may not be a cleanup root');
    expect(message('/var/log')).toContain('agent.json /cleanupRoots: expected a list of absolute directory paths');
  });
});

describe('file name patterns', () => {
  it('supports * and ? on the whole name, and nothing else', () => {
    const re = globToRegExp('*.log');
    expect(['a.log', '.log', 'x.y.log'].every((n) => re.test(n))).toBe(true);
    expect(['a.log.1', 'alog', 'a.LOG'].some((n) => re.test(n))).toBe(false);
    expect(globToRegExp('app-?.gz').test('app-1.gz')).toBe(true);
    expect(globToRegExp('app-?.gz').test('app-12.gz')).toBe(false);
    expect(globToRegExp('a[1].(log)+').test('a[1].(log)+')).toBe(true);
    expect(globToRegExp('a[1].log').test('a1.log')).toBe(false);
    expect(globToRegExp('?').test('é')).toBe(true);
  });

  it('tells a path under a root from one that only shares a prefix', () => {
    expect(within('/var/log', '/var/log')).toBe(true);
    expect(within('/var/log/app/x', '/var/log')).toBe(true);
    expect(within('/var/log2', '/var/log')).toBe(false);
    expect(within('/var', '/var/log')).toBe(false);
  });
});

describe('disk.cleanup', () => {
  it('deletes only old files whose name matches, in subdirectories too', async () => {
    const oldLog = file(join(root, 'old.log'), 10, 'a'.repeat(100));
    const deepLog = file(join(root, 'a', 'b', 'deep.log'), 30, 'b'.repeat(50));
    const newLog = file(join(root, 'new.log'), 1);
    const oldTxt = file(join(root, 'old.txt'), 10);
    const out = await diskCleanup(params({ path: root, olderThan: '7d', pattern: '*.log' }), ctxFor([root]));
    expect(out).toMatchObject({ outcome: 'succeeded', stderr: '', exitCode: null });
    expect(counts(out)).toEqual({ matched: 2, deleted: 2, bytes: 150, dryRun: false, errors: 0 });
    expect([oldLog, deepLog].map(existsSync)).toEqual([false, false]);
    expect([newLog, oldTxt].map(existsSync)).toEqual([true, true]);
    // Directories stay, even when emptied.
    expect(existsSync(join(root, 'a', 'b'))).toBe(true);
  });

  it('counts without deleting on a dry run', async () => {
    const old = [file(join(root, 'a.log'), 10, '1234'), file(join(root, 'sub', 'b.log'), 10, '56')];
    const out = await diskCleanup(params({ path: root, olderThan: '7d', dryRun: true }), ctxFor([root]));
    expect(counts(out)).toEqual({ matched: 2, deleted: 0, bytes: 6, dryRun: true, errors: 0 });
    expect(old.map(existsSync)).toEqual([true, true]);
  });

  it('stays in the top directory when not recursive', async () => {
    const top = file(join(root, 'top.log'), 10);
    const sub = file(join(root, 'sub', 'sub.log'), 10);
    const out = await diskCleanup(params({ path: root, olderThan: '7d', recursive: false }), ctxFor([root]));
    expect(counts(out)).toMatchObject({ matched: 1, deleted: 1 });
    expect([existsSync(top), existsSync(sub)]).toEqual([false, true]);
  });

  it('cleans a subdirectory of a root', async () => {
    const inSub = file(join(root, 'app', 'x.log'), 10);
    const besides = file(join(root, 'other', 'y.log'), 10);
    const out = await diskCleanup(params({ path: join(root, 'app'), olderThan: '7d' }), ctxFor([root]));
    expect(counts(out)).toMatchObject({ deleted: 1 });
    expect([existsSync(inSub), existsSync(besides)]).toEqual([false, true]);
  });

  it('refuses a path outside every root, and touches nothing', async () => {
    const victim = file(join(outside, 'x.log'), 10);
    const out = await diskCleanup(params({ path: outside, olderThan: '7d' }), ctxFor([root]));
    expect(out).toMatchObject({
      outcome: 'refused',
      stdout: '',
      error: { code: 'ACTION_NOT_ALLOWED', message: `${outside} is not under a cleanup root of this agent (${root})` },
    });
    expect(existsSync(victim)).toBe(true);
  });

  it("refuses a sibling that only shares the root's name as a prefix", async () => {
    const sibling = `${root}2`;
    const victim = file(join(sibling, 'x.log'), 10);
    const out = await diskCleanup(params({ path: sibling, olderThan: '7d' }), ctxFor([root]));
    expect(out).toMatchObject({ outcome: 'refused', error: { code: 'ACTION_NOT_ALLOWED' } });
    expect(existsSync(victim)).toBe(true);
  });

  it('refuses a path that climbs out with ".."', async () => {
    const victim = file(join(outside, 'x.log'), 10);
    const out = await diskCleanup(params({ path: join(root, '..', 'outside'), olderThan: '7d' }), ctxFor([root]));
    expect(out).toMatchObject({ outcome: 'refused', error: { code: 'ACTION_NOT_ALLOWED' } });
    expect(existsSync(victim)).toBe(true);
  });

  it('refuses a symbolic link in a root that leads outside it', async () => {
    const victim = file(join(outside, 'x.log'), 10);
    symlinkSync(outside, join(root, 'escape'));
    const out = await diskCleanup(params({ path: join(root, 'escape'), olderThan: '7d' }), ctxFor([root]));
    expect(out).toMatchObject({
      outcome: 'refused',
      error: { code: 'ACTION_NOT_ALLOWED', message: `${join(root, 'escape')} (really ${outside}) is not under a cleanup root of this agent (${root})` },
    });
    expect(existsSync(victim)).toBe(true);
  });

  it('does not follow a symbolic link to a directory or a file while walking', async () => {
    const victimDir = file(join(outside, 'x.log'), 10);
    const victimFile = file(join(outside, 'y.log'), 10);
    symlinkSync(outside, join(root, 'linked-dir'));
    symlinkSync(victimFile, join(root, 'linked.log'));
    const own = file(join(root, 'own.log'), 10);
    const out = await diskCleanup(params({ path: root, olderThan: '7d' }), ctxFor([root]));
    expect(counts(out)).toEqual({ matched: 1, deleted: 1, bytes: 10, dryRun: false, errors: 0 });
    expect([existsSync(own), existsSync(victimDir), existsSync(victimFile)]).toEqual([false, true, true]);
    // The links themselves are not deleted either: only regular files are.
    expect(existsSync(join(root, 'linked.log'))).toBe(true);
  });

  it('allows a root reached through a symbolic link, judged by where it really is', async () => {
    const linkedRoot = join(base, 'via-link');
    symlinkSync(root, linkedRoot);
    const old = file(join(root, 'x.log'), 10);
    const out = await diskCleanup(params({ path: root, olderThan: '7d' }), ctxFor([linkedRoot]));
    expect(counts(out)).toMatchObject({ deleted: 1 });
    expect(existsSync(old)).toBe(false);
  });

  it('cleans a directory whose name merely starts with two dots', async () => {
    const old = file(join(root, '..cache', 'x.log'), 10);
    const out = await diskCleanup(params({ path: join(root, '..cache'), olderThan: '7d' }), ctxFor([root]));
    expect(counts(out)).toMatchObject({ matched: 1, deleted: 1, errors: 0 });
    expect(existsSync(old)).toBe(false);
  });

  it('deletes one old file named directly', async () => {
    const old = file(join(root, 'x.log'), 10);
    const out = await diskCleanup(params({ path: old, olderThan: '7d' }), ctxFor([root]));
    expect(counts(out)).toMatchObject({ matched: 1, deleted: 1 });
    expect(existsSync(old)).toBe(false);
  });

  it('says a missing path under a root does not exist, and a missing path elsewhere is not allowed', async () => {
    expect(await diskCleanup(params({ path: join(root, 'nope'), olderThan: '7d' }), ctxFor([root]))).toMatchObject({
      outcome: 'refused',
      error: { code: 'ACTION_TARGET_NOT_FOUND', message: `${join(root, 'nope')} does not exist (ENOENT)` },
    });
    expect(await diskCleanup(params({ path: join(outside, 'nope'), olderThan: '7d' }), ctxFor([root]))).toMatchObject({
      outcome: 'refused',
      error: { code: 'ACTION_NOT_ALLOWED' },
    });
  });

  it('refuses everything when the config names no roots', async () => {
    expect(await diskCleanup(params({ path: root, olderThan: '7d' }), ctxFor([]))).toMatchObject({
      outcome: 'refused',
      error: { code: 'ACTION_NOT_ALLOWED', message: "this agent's config has no cleanupRoots, so disk.cleanup may not delete anywhere" },
    });
  });

  it('stops at the entry and depth limits and says so', async () => {
    for (let i = 0; i < 5; i++) file(join(root, `f${i}.log`), 10);
    const limited = await cleanup(root, {
      olderThanMs: 7 * DAY,
      pattern: '*',
      dryRun: true,
      recursive: true,
      now: Date.now(),
      deadline: Date.now() + 60_000,
      maxEntries: 3,
    });
    expect(limited).toMatchObject({ matched: 3, notes: ['stopped after 3 entries; run again to continue'] });

    const deep = file(join(root, 'd1', 'd2', 'd3', 'deep.log'), 10);
    const shallow = await cleanup(root, {
      olderThanMs: 7 * DAY,
      pattern: 'deep.log',
      dryRun: false,
      recursive: true,
      now: Date.now(),
      deadline: Date.now() + 60_000,
      maxDepth: 2,
    });
    expect(shallow).toMatchObject({ matched: 0, notes: ['skipped 1 directory deeper than 2 levels'] });
    expect(existsSync(deep)).toBe(true);
  });

  it('judges age against the clock it is given', async () => {
    file(join(root, 'x.log'), 3);
    const at = (now: number) => cleanup(root, { olderThanMs: 7 * DAY, pattern: '*', dryRun: true, recursive: true, now, deadline: Date.now() + 60_000 });
    expect((await at(Date.now())).matched).toBe(0);
    expect((await at(Date.now() + 5 * DAY)).matched).toBe(1);
  });

  it('reports a walk cut short by its deadline as timed out, with the counts so far', async () => {
    file(join(root, 'x.log'), 10);
    const { cleanupOutput } = await import('../../../agent/actions/disk-cleanup.js');
    const report = await cleanup(root, { olderThanMs: 7 * DAY, pattern: '*', dryRun: true, recursive: true, now: Date.now(), deadline: Date.now() - 1 });
    const out = cleanupOutput(report, 1000);
    expect(out).toMatchObject({ outcome: 'timed-out', stderr: "stopped after 1000ms (the action's timeout); run again to continue\n" });
    expect(counts(out)).toEqual({ matched: 0, deleted: 0, bytes: 0, dryRun: true, errors: 0 });
  });
});

describe('disk.cleanup through runInstruction', () => {
  const run = (p: Record<string, unknown>): Run => ({
    id: 'c1',
    host: 'h',
    action: 'disk.cleanup',
    params: p,
    timeoutMs: 60_000,
    deadline: Date.now() + 60_000,
  });

  it('runs a wire instruction whose olderThan is a string, and its result is a valid message', async () => {
    const old = file(join(root, 'x.log'), 10, 'abc');
    const r = await runInstruction(run({ path: root, olderThan: '7d', pattern: '*.log' }), { config: ctxFor([root]).config, log: silentLogger });
    expect(check(resultBody, r)).toMatchObject({ ok: true });
    expect(r).toMatchObject({
      id: 'c1',
      action: 'disk.cleanup',
      outcome: 'succeeded',
      stdout: '{"matched":1,"deleted":1,"bytes":3,"dryRun":false,"errors":0}\n',
    });
    expect(existsSync(old)).toBe(false);
  });

  it('refuses a number for olderThan with a readable reason', async () => {
    const r = await runInstruction(run({ path: root, olderThan: 7 }), { config: ctxFor([root]).config, log: silentLogger });
    expect(r).toMatchObject({ outcome: 'refused', error: { code: 'ACTION_BAD_PARAMS' } });
    expect(r.error!.message).toContain('/params/olderThan: expected a duration like "7d", got 7');
  });
});

// Keep the helper honest: the files it writes have the age asked for.
it('writes test files with the age asked for', () => {
  const f = file(join(base, 'age.txt'), 2);
  expect(readFileSync(f, 'utf8')).toBe('x'.repeat(10));
});
