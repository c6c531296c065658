import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as v from 'valibot';
import { cleanup, diskCleanup } from '../../../agent/actions/disk-cleanup.js';
import { parseAgentConfig } from '../../../agent/config.js';
import { ACTIONS, silentLogger } from '../../../protocol/index.js';
import { waitFor } from '../../helpers/procs.js';

const DAY = 86_400_000;
const BAIT = 20;

const config = (roots: string[]) => parseAgentConfig({ controller: 'ws://127.0.0.1:7070', token: 't', cleanupRoots: roots }, 'agent.json');
const params = (p: Record<string, unknown>) => v.parse(ACTIONS['disk.cleanup'].params, p);
const ctxFor = (roots: string[]) => ({ config: config(roots), log: silentLogger, timeoutMs: 10_000, maxOutputBytes: 65_536 });

function oldFile(path: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, 'x');
  const t = (Date.now() - 10 * DAY) / 1000;
  utimesSync(path, t, t);
  return path;
}

/**
 * The attacker: a separate process that keeps swapping the directory root/sub for a symbolic
 * link to a directory outside the root (two renames each way) and refills sub with old files
 * named like the ones outside. It counts its swaps on stdout and stops itself after a minute.
 */
const SWAPPER = `
const fs = require('fs');
const [root, outside, n] = process.argv.slice(1);
const sub = root + '/sub', parked = root + '/.parked', real = root + '/.real';
const old = (Date.now() - 10 * 86400000) / 1000;
const stopAt = Date.now() + 60000;
let swaps = 0;
const quietly = (f) => { try { f(); } catch {} };
setInterval(() => process.stdout.write(swaps + '\\n'), 20);
(function loop() {
  for (let k = 0; k < 50; k++) {
    for (let i = 0; i < Number(n); i++) quietly(() => {
      const f = sub + '/bait-' + i + '.log';
      if (!fs.existsSync(f)) { fs.writeFileSync(f, 'in'); fs.utimesSync(f, old, old); }
    });
    quietly(() => fs.renameSync(sub, real));
    quietly(() => fs.renameSync(parked, sub));
    quietly(() => fs.renameSync(sub, parked));
    quietly(() => fs.renameSync(real, sub));
    swaps++;
  }
  if (Date.now() < stopAt) setImmediate(loop); else process.exit(0);
})();
`;

let base: string;
let root: string;
let outside: string;
let swapper: ChildProcess | undefined;

beforeEach(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'laas-cleanup-race-')));
  root = join(base, 'root');
  outside = join(base, 'outside');
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(outside);
  const old = (Date.now() - 10 * DAY) / 1000;
  for (let i = 0; i < BAIT; i++) {
    const f = join(outside, `bait-${i}.log`);
    writeFileSync(f, 'outside: must never be deleted');
    utimesSync(f, old, old);
  }
});

afterEach(async () => {
  if (swapper && swapper.exitCode === null && swapper.signalCode === null) {
    const gone = new Promise((r) => swapper!.once('exit', r));
    swapper.kill('SIGKILL');
    await gone;
  }
  swapper = undefined;
  rmSync(base, { recursive: true, force: true });
});

describe('disk.cleanup against a racing symlink swapper', () => {
  it('never deletes a file outside its root while a directory in it is swapped for a link to the outside', async () => {
    symlinkSync(outside, join(root, '.parked'));
    swapper = spawn(process.execPath, ['-e', SWAPPER, root, outside, String(BAIT)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let swaps = 0;
    swapper.stdout!.on('data', (d: Buffer) => {
      swaps = Number(d.toString().trim().split('\n').pop());
    });
    await waitFor('the swapper to start swapping', () => swaps > 0, 10_000);

    const ctx = ctxFor([root]);
    const p = params({ path: root, olderThan: '7d', pattern: 'bait-*.log' });
    const swapsBefore = swaps;
    let deletedInside = 0;
    let runs = 0;
    // Bounded in count and in time; the old path-based walk lost outside files within a few runs.
    const until = Date.now() + 8_000;
    while (runs < 400 && Date.now() < until) {
      const out = await diskCleanup(p, ctx);
      runs++;
      expect(out.outcome).toBe('succeeded');
      deletedInside += (JSON.parse(out.stdout) as { deleted: number }).deleted;
      const left = readdirSync(outside).filter((n) => n.startsWith('bait-')).length;
      if (left !== BAIT) throw new Error(`run ${runs}: ${BAIT - left} file(s) outside the root were deleted`);
    }
    // The race really ran: the swapper swapped throughout, and the walk did reach and clean sub.
    expect(swaps - swapsBefore).toBeGreaterThan(runs);
    expect(deletedInside).toBeGreaterThan(0);
    for (let i = 0; i < BAIT; i++) expect(existsSync(join(outside, `bait-${i}.log`))).toBe(true);
  }, 30_000);
});

describe('disk.cleanup on descriptors', () => {
  const openFds = () => readdirSync('/proc/self/fd').length;

  it('closes every directory it opened, whatever it found', async () => {
    let dir = root;
    for (let i = 0; i < 8; i++) {
      dir = join(dir, `d${i}`);
      oldFile(join(dir, 'x.log'));
    }
    symlinkSync(outside, join(root, 'd0', 'link'));
    const before = openFds();
    const out = await diskCleanup(params({ path: root, olderThan: '7d', pattern: '*.log' }), ctxFor([root]));
    expect(JSON.parse(out.stdout)).toMatchObject({ matched: 8, deleted: 8, errors: 0 });
    const limited = await diskCleanup(params({ path: join(root, 'd0'), olderThan: '7d' }), { ...ctxFor([root]), timeoutMs: 0 });
    expect(limited.outcome).toBe('timed-out');
    expect(openFds()).toBe(before);
  });

  it('does nothing when the root is no longer where its real path said (an ancestor swapped for a link)', async () => {
    const victim = oldFile(join(outside, 'x.log'));
    // As if, between realpath and open, an ancestor of the root had become a link elsewhere.
    symlinkSync(base, join(root, 'up'));
    const claimed = join(root, 'up', 'outside');
    const report = await cleanup(claimed, {
      root: claimed,
      olderThanMs: 7 * DAY,
      pattern: '*',
      dryRun: false,
      recursive: true,
      now: Date.now(),
      deadline: Date.now() + 10_000,
    });
    expect(report).toMatchObject({
      deleted: 0,
      errors: 1,
      messages: [`${claimed}: the cleanup root moved while it was opened (now ${outside}); nothing done`],
    });
    expect(existsSync(victim)).toBe(true);
  });

  it('refuses, deleting nothing, where /proc/self/fd cannot pin directories', async () => {
    const victim = oldFile(join(root, 'x.log'));
    const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
    Object.defineProperty(process, 'platform', { value: 'freebsd' });
    try {
      const out = await diskCleanup(params({ path: root, olderThan: '7d' }), ctxFor([root]));
      expect(out).toMatchObject({ outcome: 'refused', error: { code: 'ACTION_UNSUPPORTED', message: expect.stringContaining('needs /proc/self/fd') } });
    } finally {
      Object.defineProperty(process, 'platform', platform);
    }
    expect(existsSync(victim)).toBe(true);
  });
});

/** Mounting needs root (as the agent usually runs, and CI does); elsewhere these are skipped. */
describe('disk.cleanup and mount points', () => {
  const mounted: string[] = [];
  const mount = (dir: string): boolean => {
    mkdirSync(dir, { recursive: true });
    const ok = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'laas-test', dir]).status === 0;
    if (ok) mounted.push(dir);
    return ok;
  };
  afterEach(() => {
    for (const dir of mounted.splice(0).reverse()) spawnSync('umount', ['-l', dir]);
  });

  it('does not cross into another filesystem mounted inside its root, and says so', async (t) => {
    const inside = join(root, 'mnt');
    if (!mount(inside)) {
      t.skip();
      return;
    }
    const there = oldFile(join(inside, 'x.log'));
    const own = oldFile(join(root, 'y.log'));
    const out = await diskCleanup(params({ path: root, olderThan: '7d' }), ctxFor([root]));
    expect(JSON.parse(out.stdout)).toMatchObject({ matched: 1, deleted: 1, errors: 0 });
    expect(out.stderr).toBe('skipped 1 directory on another filesystem (mount points are not crossed)\n');
    expect([existsSync(there), existsSync(own)]).toEqual([true, false]);
  });

  it('refuses a path on a mount below its root, and cleans it when the mount point is a root itself', async (t) => {
    const inside = join(root, 'mnt');
    if (!mount(inside)) {
      t.skip();
      return;
    }
    const there = oldFile(join(inside, 'sub', 'x.log'));
    const refused = await diskCleanup(params({ path: join(inside, 'sub'), olderThan: '7d' }), ctxFor([root]));
    expect(refused).toMatchObject({
      outcome: 'refused',
      error: {
        code: 'ACTION_NOT_ALLOWED',
        message: `${inside} is on another filesystem than its cleanup root ${root} (a mount point); add it to cleanupRoots to clean it`,
      },
    });
    expect(existsSync(there)).toBe(true);
    const out = await diskCleanup(params({ path: join(inside, 'sub'), olderThan: '7d' }), ctxFor([root, inside]));
    expect(JSON.parse(out.stdout)).toMatchObject({ deleted: 1 });
    expect(existsSync(there)).toBe(false);
  });
});
