import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LowdbStore } from '../../../../controller/store/lowdb.js';
import type { AlertRecord, HealRecord } from '../../../../controller/model.js';
import { createLogger, LaasError, silentLogger } from '../../../../protocol/index.js';

const alert = (id: string, state: AlertRecord['state'], endsAt: string | null = null): AlertRecord => ({
  id,
  rule: 'r/x',
  host: 'h',
  severity: 'warning',
  state,
  startsAt: '2026-01-01T00:00:00.000Z',
  firedAt: null,
  endsAt,
  summary: '',
  description: '',
  labels: {},
  fingerprint: 'f',
  heals: [],
  updatedAt: '',
  ack: null,
  flapping: false,
  clearedAt: null,
});
const heal = (id: string, finishedAt: string | null): HealRecord => ({
  id,
  alertId: null,
  rule: 'r/x',
  host: 'h',
  trigger: 'alert',
  mode: 'enforce',
  action: 'script.run',
  params: { name: 'x' },
  state: finishedAt ? 'succeeded' : 'dispatched',
  reason: '',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '',
  faultAt: null,
  dispatchedAt: null,
  ackedAt: null,
  finishedAt,
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

describe('lowdb store', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'laas-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes while records change under it: a chunk changed during the write is written next time, never a failed write', async () => {
    // The write yields to the event loop every few rebuilt chunks; puts in those turns mark
    // chunks dirty again, the one just built among them. That write used to fail ("Cannot read
    // properties of undefined (reading 'length')") and retry a second later: seen at 20,000 hosts.
    const errors: string[] = [];
    const log = createLogger('test', 'error', (line) => errors.push(line));
    const s = await LowdbStore.open({ dataDir: dir, log });
    const ids = Array.from({ length: 400 }, (_, i) => `a${i}`);
    for (const id of ids) await s.putAlert(alert(id, 'pending'));
    const flushed = s.flush();
    for (let turn = 0; turn < 20; turn++) {
      await new Promise<void>((r) => setImmediate(r));
      for (const id of ids) await s.putAlert(alert(id, 'firing', `2026-01-01T00:00:${String(turn).padStart(2, '0')}.000Z`));
    }
    await flushed;
    await s.flush();
    expect(errors).toEqual([]);
    await s.close();
    const again = await LowdbStore.open({ dataDir: dir, log: silentLogger });
    const all = await again.listAlerts({});
    expect(all).toHaveLength(400);
    expect(all.every((a) => a.state === 'firing' && a.endsAt === '2026-01-01T00:00:19.000Z')).toBe(true);
    await again.close();
  });

  it('keeps what was written across a reopen, and coalesces a burst into one file', async () => {
    const s = await LowdbStore.open({ dataDir: dir, log: silentLogger });
    for (let i = 0; i < 100; i++) await s.putAlert(alert(`a${i}`, 'firing'));
    await s.putHeal(heal('w1', null));
    await s.close();
    const again = await LowdbStore.open({ dataDir: dir, log: silentLogger });
    expect(await again.listAlerts()).toHaveLength(100);
    expect((await again.getHeal('w1'))?.state).toBe('dispatched');
    expect(await again.listAlerts({ state: 'resolved' })).toEqual([]);
    await again.close();
  });

  it('writes each record as last put, though it re-serialises only the records that changed', async () => {
    const s = await LowdbStore.open({ dataDir: dir, log: silentLogger });
    await s.putAlert(alert('a', 'firing'));
    await s.putHeal(heal('w1', null));
    await s.flush();
    await s.putAlert(alert('a', 'resolved', '2026-01-01T00:01:00.000Z'));
    await s.putAlert(alert('b', 'pending'));
    await s.flush();
    const file = JSON.parse(readFileSync(join(dir, 'laas.json'), 'utf8')) as {
      version: number;
      alerts: Record<string, AlertRecord>;
      heals: Record<string, HealRecord>;
    };
    expect(file.version).toBe(1);
    expect(file.alerts.a.state).toBe('resolved');
    expect(file.alerts.b.state).toBe('pending');
    expect(file.heals.w1.state).toBe('dispatched');
    await s.close();
  });

  it('returns copies: changing a returned record changes nothing stored', async () => {
    const s = await LowdbStore.open({ dataDir: dir, log: silentLogger });
    await s.putAlert(alert('a', 'firing'));
    (await s.getAlert('a'))!.state = 'resolved';
    expect((await s.getAlert('a'))!.state).toBe('firing');
    await s.close();
  });

  it('refuses a corrupt data file with its path, and leaves it untouched', async () => {
    const file = join(dir, 'laas.json');
    writeFileSync(file, '{"version":1,"hosts":{},"al');
    const err = await LowdbStore.open({ dataDir: dir, log: silentLogger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaasError);
    expect((err as LaasError).code).toBe('STORE_CORRUPT');
    expect((err as LaasError).message).toContain(file);
    expect(readFileSync(file, 'utf8')).toBe('{"version":1,"hosts":{},"al');
    expect(existsSync(join(dir, 'laas.lock'))).toBe(false);
    writeFileSync(file, '{"something":"else"}');
    expect(((await LowdbStore.open({ dataDir: dir, log: silentLogger }).catch((e: unknown) => e)) as LaasError).code).toBe('STORE_CORRUPT');
  });

  it('keeps a backup of the last good file and names it when the store is corrupt', async () => {
    const s = await LowdbStore.open({ dataDir: dir, log: silentLogger });
    await s.putAlert(alert('kept', 'firing'));
    await s.close();
    const file = join(dir, 'laas.json');
    expect(JSON.parse(readFileSync(`${file}.bak`, 'utf8')).alerts.kept.id).toBe('kept');
    writeFileSync(file, '{"version":1,"hos');
    const err = (await LowdbStore.open({ dataDir: dir, log: silentLogger }).catch((e: unknown) => e)) as LaasError;
    expect(err.code).toBe('STORE_CORRUPT');
    expect(err.message).toContain(`a backup from `);
    expect(err.message).toContain(`is at ${file}.bak: stop laas, then "mv ${file}.bak ${file}" to restore it`);
  });

  it('refuses a data dir another live process holds, and takes over a stale lock', async () => {
    const holder = spawn('sleep', ['30']);
    try {
      writeFileSync(join(dir, 'laas.lock'), String(holder.pid));
      const err = await LowdbStore.open({ dataDir: dir, log: silentLogger }).catch((e: unknown) => e);
      expect((err as LaasError).code).toBe('STORE_LOCKED');
      expect((err as LaasError).message).toContain(`in use by process ${holder.pid}`);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
    const s = await LowdbStore.open({ dataDir: dir, log: silentLogger });
    expect(readFileSync(join(dir, 'laas.lock'), 'utf8')).toBe(String(process.pid));
    await s.close();
    expect(existsSync(join(dir, 'laas.lock'))).toBe(false);
  });

  it('caps history: the oldest resolved alerts and finished work orders go, open ones stay', async () => {
    const s = await LowdbStore.open({ dataDir: dir, log: silentLogger, maxHistory: 3 });
    for (let i = 0; i < 5; i++) await s.putAlert(alert(`old${i}`, 'resolved', `2026-01-01T00:0${i}:00.000Z`));
    await s.putAlert(alert('open', 'firing'));
    for (let i = 0; i < 5; i++) await s.putHeal(heal(`w${i}`, `2026-01-01T00:0${i}:00.000Z`));
    await s.putHeal(heal('running', null));
    await s.flush();
    expect((await s.listAlerts()).map((a) => a.id).sort()).toEqual(['old2', 'old3', 'old4', 'open']);
    expect((await s.listHeals()).map((h) => h.id).sort()).toEqual(['running', 'w2', 'w3', 'w4']);
    // The file says the same: pruned records are gone from it too.
    await s.putHeal(heal('w9', '2026-01-01T00:09:00.000Z'));
    await s.flush();
    const file = JSON.parse(readFileSync(join(dir, 'laas.json'), 'utf8')) as { heals: Record<string, unknown>; alerts: Record<string, unknown> };
    expect(Object.keys(file.alerts).sort()).toEqual(['old2', 'old3', 'old4', 'open']);
    expect(Object.keys(file.heals).sort()).toEqual(['running', 'w3', 'w4', 'w9']);
    await s.close();
  });
});
