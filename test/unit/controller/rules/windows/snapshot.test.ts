import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../../../../protocol/index.js';
import { restoreWindows, saveWindows } from '../../../../../controller/rules/windows/persist.js';
import { decodeWindows, encodeWindows } from '../../../../../controller/rules/windows/snapshot.js';
import { Windows, type Keep } from '../../../../../controller/rules/windows/store.js';

const CPU = 'cpu\u0000$.usage';
const DISK = 'disk\u0000$.*.freeBytes';
const retention = (extra: [string, Keep][] = []) =>
  new Map<string, Keep>([[CPU, { ms: 600_000, mode: 'all' }], [DISK, { ms: 3_600_000, mode: 'all' }], ...extra]);

/** Two hosts, a plain path and a wildcard one with two keys, a NaN (a string value) among the numbers. */
function filled(): Windows {
  const w = new Windows();
  w.setRetention(retention());
  for (let i = 0; i < 50; i++) {
    const at = 1_000_000 + i * 10_000;
    w.observe('web-1', CPU, at, [{ key: '', value: i % 7 === 0 ? 'n/a' : i * 1.5 }]);
    w.observe('web-2', CPU, at, [{ key: '', value: 100 - i }]);
    w.observe('web-1', DISK, at, [
      { key: '/', value: 5e9 - i * 1e6 },
      { key: '/var', value: i % 2 === 0 },
    ]);
  }
  return w;
}

const dump = (w: Windows) =>
  [...w.entries()].map(([host, id, key, s]) => {
    const p = s.window(0);
    return {
      host,
      id,
      key,
      since: s.since,
      seenAt: s.seenAt,
      valueAt: s.valueAt,
      has: s.hasValues,
      t: Array.from(p.t, (t) => t + (p.base ?? 0)),
      v: Array.from(p.v),
    };
  });

describe('windows snapshot', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('round-trips every series exactly: points, NaNs, keys, and when each was first and last watched', () => {
    const w = filled();
    const back = new Windows();
    back.setRetention(retention());
    const { savedAt, series } = decodeWindows(encodeWindows(w, 42));
    expect(savedAt).toBe(42);
    for (const s of series) expect(back.adopt(s.host, s.seriesId, s.key, s.series)).toBe(true);
    expect(dump(back)).toEqual(dump(w));
    expect(series).toHaveLength(4);
    // The restored series go on as the live ones do.
    w.observe('web-1', CPU, 2_000_000, [{ key: '', value: 7 }]);
    back.observe('web-1', CPU, 2_000_000, [{ key: '', value: 7 }]);
    expect(dump(back)).toEqual(dump(w));
  });

  it('refuses a truncated, foreign or disordered file with where it stops making sense', () => {
    const buf = encodeWindows(filled(), 1);
    expect(() => decodeWindows(buf.subarray(0, buf.length - 3))).toThrow(/ends inside the points of series 3 at byte \d+/);
    expect(() => decodeWindows(buf.subarray(0, 10))).toThrow(/ends inside the header/);
    expect(() => decodeWindows(Buffer.from('{"not": "a snapshot"}'))).toThrow(/does not start with LAASWIN1/);
    expect(() => decodeWindows(Buffer.concat([buf, Buffer.from([0])]))).toThrow(/1 bytes after its 4 series/);
    const huge = Buffer.from(buf);
    huge.writeUInt32LE(0xffffffff, 20); // the first series' host length
    expect(() => decodeWindows(huge)).toThrow(/ends inside series 0/);
  });

  it('restores only paths the rules read now, and never over what this process saw itself', () => {
    const dir = mkdtempSync(join(tmpdir(), 'laas-windows-'));
    dirs.push(dir);
    const file = join(dir, 'windows.bin');
    expect(saveWindows(filled(), file, 5)).toMatchObject({ series: 4 });
    const w = new Windows();
    // The rules changed: the disk path is no longer read.
    w.setRetention(new Map([[CPU, { ms: 600_000, mode: 'all' }]]));
    w.observe('web-2', CPU, 3_000_000, [{ key: '', value: 1 }]);
    expect(restoreWindows(w, file, silentLogger)).toEqual({ series: 1, savedAt: 5 });
    expect(dump(w).map((s) => [s.host, s.id, s.t.length])).toEqual([
      ['web-2', CPU, 1],
      ['web-1', CPU, 50],
    ]);
  });

  it('starts empty, logged, from a file it cannot read, and leaves the file for the next stop to replace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'laas-windows-'));
    dirs.push(dir);
    const file = join(dir, 'windows.bin');
    writeFileSync(file, 'LAASWIN1garbage');
    const lines: string[] = [];
    const log = createLogger('test', 'info', (l) => lines.push(l));
    const w = new Windows();
    w.setRetention(retention());
    expect(restoreWindows(w, file, log)).toEqual({ series: 0 });
    expect(lines.join('')).toContain('windows snapshot not restored');
    expect(readFileSync(file, 'utf8')).toBe('LAASWIN1garbage');
    expect(restoreWindows(w, join(dir, 'none.bin'), log)).toEqual({ series: 0 });
  });
});
