import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../../../controller/security/audit.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');

/** The audit log on a real data dir, with a clock the test moves. */
describe('audit log', () => {
  let dir: string;
  let now: number;
  const at = () => new Date(now).toISOString();
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'laas-audit-'));
    now = T0;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const action = (n: number) => ({
    who: 'alice',
    role: 'admin',
    from: '127.0.0.1',
    action: 'POST /api/v1/silences',
    target: `/api/v1/silences#${n}`,
    result: 'ok' as const,
    status: 201,
  });
  const probe = (n: number) => ({
    who: '-',
    role: '-',
    from: `10.0.0.${n % 3}`,
    action: `GET /${'x'.repeat(8000)}/${n}`,
    target: `/${'x'.repeat(8000)}`,
    result: 'failed' as const,
    status: 404,
    detail: `no endpoint GET /${'x'.repeat(8000)}`,
  });

  it('rotates through several files and reads the newest first across them', () => {
    const log = new AuditLog(dir, { maxBytes: 2000, keep: 3, now: () => now });
    for (let i = 0; i < 40; i++) {
      now += 1000;
      log.add(action(i));
    }
    for (const f of ['audit.log', 'audit.log.1', 'audit.log.2', 'audit.log.3']) expect(existsSync(join(dir, f)), f).toBe(true);
    expect(existsSync(join(dir, 'audit.log.4'))).toBe(false);
    const tail = log.tail(25);
    expect(tail.map((e) => e.target)).toEqual(Array.from({ length: 25 }, (_, i) => `/api/v1/silences#${39 - i}`));
    expect(log.tail(3).map((e) => e.at)).toEqual([at(), new Date(now - 1000).toISOString(), new Date(now - 2000).toISOString()]);
  });

  it('keeps unauthenticated noise apart: a flood never rotates an action away', () => {
    const log = new AuditLog(dir, { maxBytes: 4000, noiseMaxBytes: 100_000, noisePerSecond: 2, noiseBurst: 10, now: () => now });
    log.add(action(1));
    for (let i = 0; i < 5000; i++) {
      now += 1;
      log.add(probe(i));
    }
    log.close();
    expect(log.tail(1, { unauthenticated: false })).toEqual([expect.objectContaining({ who: 'alice', target: '/api/v1/silences#1' })]);
    expect(readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n')).toHaveLength(1);
    // 5 seconds of flood: the burst and two a second one by one, the rest counted in summaries.
    const noise = log.tail(1000).filter((e) => e.unauthenticated);
    expect(noise.reduce((n, e) => n + (e.count ?? 1), 0)).toBe(5000);
    const single = noise.filter((e) => e.count === undefined);
    expect(single.length).toBeGreaterThanOrEqual(10);
    expect(single.length).toBeLessThanOrEqual(21);
    expect(noise.find((e) => e.count)).toMatchObject({
      who: '-',
      from: '*',
      action: 'unauthenticated refusals not recorded one by one',
      result: 'denied',
      detail: expect.stringMatching(
        /^\d+ refusals between \S+ and \S+ over the rate of 2\/s; most from 10\.0\.0\.\d ×\d+, 10\.0\.0\.\d ×\d+, 10\.0\.0\.\d ×\d+$/,
      ),
    });
  });

  it('caps each field, so one request cannot write megabytes', () => {
    const log = new AuditLog(dir, { now: () => now });
    log.add({ ...action(1), who: 'w'.repeat(10_000), detail: 'd'.repeat(100_000) });
    log.add(probe(1));
    const [noise, act] = [log.tail(2)[1], log.tail(2)[0]];
    expect(act.who).toBe(`${'w'.repeat(200)}…(9800 more characters)`);
    expect(act.detail).toHaveLength(500 + '…(99500 more characters)'.length);
    expect(noise.action).toBe(`${`GET /${'x'.repeat(8000)}/1`.slice(0, 300)}…(${8007 - 300} more characters)`);
    expect(readFileSync(join(dir, 'audit.log'), 'utf8').length).toBeLessThan(1200);
  });

  it('skips a torn last line (a crash mid-append) instead of failing the whole read', () => {
    const log = new AuditLog(dir, { now: () => now });
    log.add(action(1));
    appendFileSync(join(dir, 'audit.log'), '{"at":"2026-01-01T00:00:01.000Z","who":"ali');
    expect(log.tail(10).map((e) => e.target)).toEqual(['/api/v1/silences#1']);
  });
});
