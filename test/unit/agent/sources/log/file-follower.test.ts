import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, rmdirSync, truncateSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { common } from '../../../../../scripts/bundle-options.mjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { FileFollower } from '../../../../../agent/sources/log/file-follower.js';
import { LogSource } from '../../../../../agent/sources/log/index.js';
import { check, sampleBody, silentLogger } from '../../../../../protocol/index.js';

const MIN = 60_000;
const ctx = { log: silentLogger, env: process.env, changed: () => {} };
let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});

/** A log file in a temp dir, followed by a LogSource on a clock the test sets; polls are stepped by hand. */
function follow(opts: { window?: number; match?: string; maxReadBytes?: number; create?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'laas-log-'));
  const file = join(dir, 'app.log');
  if (opts.create !== undefined) writeFileSync(file, opts.create);
  const clock = { t: 1000 * MIN };
  const source = new LogSource([{ name: 'app', file, match: opts.match ?? 'ERROR|FATAL', window: opts.window ?? 5 * MIN }], ctx, {
    now: () => clock.t,
    file: { pollMs: 3_600_000, ...(opts.maxReadBytes ? { maxReadBytes: opts.maxReadBytes } : {}) },
  });
  const follower = source.follower('app') as FileFollower;
  cleanup.push(async () => {
    await source.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const facts = () => {
    const log = source.snapshot();
    // Every snapshot must be a fact the controller accepts.
    expect(check(sampleBody, { seq: 0, ts: 1, trigger: 'interval', log })).toMatchObject({ ok: true });
    return log.app;
  };
  return { dir, file, clock, source, poll: () => follower.poll(), follower, facts };
}

describe('following a log file', () => {
  it('starts at the end of the file, then counts the matching lines appended', async () => {
    const f = follow({ create: 'ERROR old 1\nERROR old 2\n' });
    await f.poll();
    expect(f.facts()).toEqual({ count: 0, total: 0 });
    appendFileSync(f.file, 'INFO fine\nERROR disk on fire\nWARN meh\nFATAL out of memory\nERROR last one\n');
    await f.poll();
    expect(f.facts()).toEqual({ count: 3, total: 3, lastLine: 'ERROR last one', lastAt: f.clock.t });
  });

  it('keeps a partial last line until its newline comes', async () => {
    const f = follow({ create: '' });
    await f.poll();
    appendFileSync(f.file, 'ERROR half');
    await f.poll();
    expect(f.facts().total).toBe(0);
    appendFileSync(f.file, ' and the rest\n');
    await f.poll();
    expect(f.facts()).toMatchObject({ total: 1, lastLine: 'ERROR half and the rest' });
  });

  it('lets matches leave the count once the window has passed, keeping the total', async () => {
    const f = follow({ create: '', window: 5 * MIN });
    await f.poll();
    appendFileSync(f.file, 'ERROR a\nERROR b\n');
    await f.poll();
    f.clock.t += 3 * MIN;
    appendFileSync(f.file, 'ERROR c\n');
    await f.poll();
    expect(f.facts()).toMatchObject({ count: 3, total: 3 });
    f.clock.t += 2 * MIN + 10_000;
    expect(f.facts()).toMatchObject({ count: 1, total: 3, lastLine: 'ERROR c' });
    f.clock.t += 3 * MIN;
    expect(f.facts()).toMatchObject({ count: 0, total: 3 });
  });

  it('follows a rotation by rename and create: finishes the old file, then reads the new one from its beginning', async () => {
    const f = follow({ create: 'ERROR before start\n' });
    await f.poll();
    appendFileSync(f.file, 'ERROR 1\n');
    renameSync(f.file, `${f.file}.1`);
    // Written by the app before it reopened its log: still in the old file.
    appendFileSync(`${f.file}.1`, 'ERROR 2 in the old file\n');
    writeFileSync(f.file, 'ERROR 3 in the new file\nINFO ok\n');
    await f.poll();
    expect(f.facts()).toMatchObject({ count: 3, total: 3, lastLine: 'ERROR 3 in the new file' });
    appendFileSync(`${f.file}.1`, 'ERROR late write to the old file is no longer read\n');
    appendFileSync(f.file, 'FATAL 4\n');
    await f.poll();
    expect(f.facts()).toMatchObject({ total: 4, lastLine: 'FATAL 4' });
  });

  it('follows copytruncate: a file that shrank is read again from its beginning', async () => {
    const f = follow({ create: '' });
    await f.poll();
    appendFileSync(f.file, `ERROR one\n${'INFO padding\n'.repeat(50)}`);
    await f.poll();
    expect(f.facts().total).toBe(1);
    copyFileSync(f.file, `${f.file}.1`);
    truncateSync(f.file, 0);
    appendFileSync(f.file, 'ERROR after truncation\n');
    await f.poll();
    expect(f.facts()).toMatchObject({ total: 2, lastLine: 'ERROR after truncation' });
  });

  it('reports a deleted file as an error with the reason, and reads it from its beginning when it comes back', async () => {
    const f = follow({ create: 'x\n' });
    await f.poll();
    rmSync(f.file);
    await f.poll();
    expect(f.facts()).toEqual({ count: 0, total: 0, error: `cannot read ${f.file}: no such file` });
    await f.poll();
    expect(f.facts().error).toContain('no such file');
    writeFileSync(f.file, 'ERROR first line of the new file\n');
    await f.poll();
    expect(f.facts()).toEqual({ count: 1, total: 1, lastLine: 'ERROR first line of the new file', lastAt: f.clock.t });
  });

  it('reports a file missing at start, and reads it whole once it appears', async () => {
    const f = follow();
    await f.poll();
    expect(f.facts().error).toBe(`cannot read ${f.file}: no such file`);
    writeFileSync(f.file, 'ERROR 1\nERROR 2\n');
    await f.poll();
    expect(f.facts()).toMatchObject({ total: 2 });
    expect(f.facts().error).toBeUndefined();
  });

  // Tests run as root, and root reads a file of mode 000: a directory in place of the file is
  // what root cannot read as a log. chmod 000 is tried only when the tests run as another user.
  it('reports a path it cannot read (a directory in its place) and recovers when a file is back', async () => {
    const f = follow();
    mkdirSync(f.file);
    await f.poll();
    expect(f.facts().error).toBe(`cannot read ${f.file}: not a regular file (a directory)`);
    rmdirSync(f.file);
    writeFileSync(f.file, 'ERROR back\n');
    await f.poll();
    expect(f.facts()).toMatchObject({ total: 1, lastLine: 'ERROR back' });
    expect(f.facts().error).toBeUndefined();
  });

  it('reports a file without read permission (as root: followed by a child running as nobody)', async () => {
    const f = follow({ create: '' });
    chmodSync(f.file, 0);
    if (process.getuid?.() !== 0) {
      await f.poll();
      expect(f.facts().error).toMatch(/EACCES/);
      return;
    }
    // Root reads a mode-000 file, so the follower runs where it cannot: a bundle of it in a child
    // that setpriv makes nobody (util-linux, installed by .ci/run).
    chmodSync(f.dir, 0o755);
    const bundle = join(f.dir, 'follow.mjs');
    await build({
      stdin: {
        contents: `import { LogSource } from './agent/sources/log/index.ts';
import { silentLogger } from './protocol/index.ts';
const s = new LogSource([{ name: 'app', file: process.argv[2], match: 'ERROR', window: 300000 }], { log: silentLogger, env: {}, changed: () => {} }, { file: { pollMs: 3600000 } });
await s.follower('app').poll();
console.log(JSON.stringify(s.snapshot()));
await s.stop();`,
        resolveDir: resolve('.'),
        loader: 'ts',
      },
      ...common,
      outfile: bundle,
      logLevel: 'silent',
    });
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, bundle, f.file], { encoding: 'utf8' });
    const log = (JSON.parse(out) as { app: { error?: string } }).app;
    expect(log.error).toMatch(/EACCES/);
  });

  it('reads a 10 MB line with no newline in bounded memory and bounded reads, and cuts it', async () => {
    const f = follow({ create: '', maxReadBytes: 1_048_576 });
    await f.poll();
    const mb = Buffer.alloc(1_048_576, 0x45); // "E"
    appendFileSync(f.file, 'ERROR ');
    for (let i = 0; i < 10; i++) appendFileSync(f.file, mb);
    // 1 MiB a poll: eleven polls read it all, never holding more than 8 KiB of it.
    for (let i = 0; i < 11; i++) {
      await f.poll();
      expect(f.follower.pendingBytes).toBeLessThanOrEqual(8192);
    }
    expect(f.facts().total).toBe(0);
    appendFileSync(f.file, '\nERROR short\n');
    await f.poll();
    const facts = f.facts();
    expect(facts.total).toBe(2);
    expect(facts.lastLine).toBe('ERROR short');
  });

  it('keeps at most 1000 characters of the last matching line', async () => {
    const f = follow({ create: '' });
    await f.poll();
    appendFileSync(f.file, `ERROR ${'x'.repeat(5000)}\n`);
    await f.poll();
    expect(f.facts().lastLine).toBe(`ERROR ${'x'.repeat(994)}`);
  });

  it('survives binary garbage: NUL bytes, invalid UTF-8, no newlines for long stretches', async () => {
    const f = follow({ create: '' });
    await f.poll();
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    const garbage = Buffer.from(Array.from({ length: 200_000 }, rand));
    appendFileSync(f.file, Buffer.concat([garbage, Buffer.from('\n\u0000ERROR \xff\xfe bad bytes\n', 'latin1')]));
    await f.poll();
    const facts = f.facts();
    expect(facts.total).toBeGreaterThanOrEqual(1);
    expect(facts.lastLine).toBe('\uFFFDERROR \uFFFD\uFFFD bad bytes');
  });
});
