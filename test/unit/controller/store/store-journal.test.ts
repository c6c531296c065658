import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LowdbStore } from '../../../../controller/store/lowdb.js';
import type { HealRecord } from '../../../../controller/model.js';
import { LaasError, silentLogger } from '../../../../protocol/index.js';

const heal = (id: string, state: HealRecord['state']): HealRecord => ({
  id,
  alertId: null,
  rule: 'r/x',
  host: 'h',
  trigger: 'alert',
  mode: 'enforce',
  action: 'script.run',
  params: { name: 'x' },
  state,
  reason: '',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '',
  faultAt: null,
  dispatchedAt: null,
  ackedAt: null,
  finishedAt: null,
  timeoutMs: 1,
  result: null,
  steps: [],
  step: 0,
  verifyWithinMs: 1,
  verifyingUntil: null,
  clearedAt: null,
  approval: null,
  notifications: [],
  history: [],
});
const journals = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('laas.journal.'));

// A big store's flush() (the write-ahead before each heal dispatch) appends to a journal and
// leaves the whole-file rewrite to the background: these check it loses nothing on a crash.
describe('lowdb store journal', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'laas-journal-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a work order flushed and then SIGKILLed before the file write is there after a restart', async () => {
    // A real process, killed for real, with the file write held back a minute.
    const lowdb = resolve('dist/controller/store/lowdb.js');
    const proto = resolve('dist/protocol/index.js');
    const src = `
      import { LowdbStore } from ${JSON.stringify(lowdb)};
      import { silentLogger } from ${JSON.stringify(proto)};
      const s = await LowdbStore.open({ dataDir: ${JSON.stringify(dir)}, log: silentLogger, journalAboveBytes: 0, writeDelayMs: 60000 });
      const h = ${JSON.stringify(heal('w1', 'awaiting-approval'))};
      await s.putHeal(h); await s.flush();
      await s.putHeal({ ...h, state: 'dispatched' }); await s.putState('pause', { by: 'me' }); await s.flush();
      process.stdout.write('flushed\\n');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', src], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((ok, fail) => {
        const t = setTimeout(() => fail(new Error('child never flushed')), 20_000);
        child.stdout.on('data', (b: Buffer) => {
          if (b.toString().includes('flushed')) {
            clearTimeout(t);
            ok();
          }
        });
        child.once('exit', (code) => {
          clearTimeout(t);
          fail(new Error(`child exited ${code}`));
        });
      });
    } finally {
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
    }
    expect(existsSync(join(dir, 'laas.json'))).toBe(false); // the file write never happened
    expect(journals(dir).length).toBeGreaterThan(0);
    const s = await LowdbStore.open({ dataDir: dir, log: silentLogger, journalAboveBytes: 0 });
    expect((await s.getHeal('w1'))?.state).toBe('dispatched');
    expect(await s.getState('pause')).toEqual({ by: 'me' });
    await s.close();
    // The restart folded the journal into the file and dropped it.
    expect(journals(dir)).toEqual([]);
    expect(JSON.parse(readFileSync(join(dir, 'laas.json'), 'utf8')).heals.w1.state).toBe('dispatched');
  }, 30_000);

  it('replays only what the file does not hold: an older journal line never overwrites a newer file', async () => {
    const s = await LowdbStore.open({ dataDir: dir, log: silentLogger, journalAboveBytes: 0, writeDelayMs: 60_000 });
    await s.putHeal(heal('w1', 'awaiting-approval'));
    await s.flush(); // journal: pending
    await s.putHeal(heal('w1', 'dispatched'));
    await (s as unknown as { writeFile(): Promise<void> }).writeFile(); // the background write: file says dispatched
    expect(journals(dir)).toEqual([]);
    await s.putHeal(heal('w2', 'awaiting-approval'));
    await s.flush(); // a newer journal
    const again = await LowdbStore.open({ dataDir: dir, log: silentLogger }); // same pid: takes the lock over, like a restart
    expect((await again.getHeal('w1'))?.state).toBe('dispatched');
    expect((await again.getHeal('w2'))?.state).toBe('awaiting-approval');
    await again.close();
    await s.close();
  });

  it('ignores a torn last line (a crash mid-append), and refuses a broken line before it', async () => {
    writeFileSync(join(dir, 'laas.journal.0'), '{"g":0,"s":"hosts","id":"h1","r":{"id":"h1"}}\n{"g":0,"s":"heals","id":"half","r":{"id":"ha');
    const s = await LowdbStore.open({ dataDir: dir, log: silentLogger });
    expect((await s.getHost('h1'))?.id).toBe('h1');
    expect(await s.getHeal('half')).toBeUndefined();
    await s.close();
    expect(journals(dir)).toEqual([]);
    const j = join(dir, 'laas.journal.5');
    writeFileSync(j, '{"g":5,"s":"heals",\n{"g":5,"s":"state","id":"ok"}\n');
    const err = await LowdbStore.open({ dataDir: dir, log: silentLogger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaasError);
    expect((err as LaasError).code).toBe('STORE_CORRUPT');
    expect((err as LaasError).message).toContain(j);
    expect((err as LaasError).message).toContain('line 1');
    expect(readFileSync(j, 'utf8')).toBe('{"g":5,"s":"heals",\n{"g":5,"s":"state","id":"ok"}\n');
  });
});
