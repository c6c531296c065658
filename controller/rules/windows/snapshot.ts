import { Series } from './series.js';
import type { Windows } from './store.js';

/**
 * The windows as one binary file, so a controller restart does not empty them: written when
 * the controller stops, read when it starts (controller/history/persist.ts). Little-endian:
 *
 *   "LAASWIN1"  savedAt f64  count u32
 *   count × { host str, seriesId str, key str, since f64, seenAt f64, valueAt f64,
 *             hasValues u8, base f64, n u32, t u32×n, v f64×n }      (str = u32 length + UTF-8)
 *
 * 12 bytes a point, as in memory. Reading checks every length against what is left, so a
 * truncated or foreign file is an error naming the byte, never a crash or a half-read window.
 */
const MAGIC = 'LAASWIN1';

export function encodeWindows(windows: Windows, savedAt: number): Buffer {
  const parts: Buffer[] = [];
  let count = 0;
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32LE(b.length);
    parts.push(len, b);
  };
  for (const [host, seriesId, key, series] of windows.entries()) {
    const s = series.state();
    str(host);
    str(seriesId);
    str(key);
    const head = Buffer.allocUnsafe(8 * 3 + 1 + 8 + 4);
    head.writeDoubleLE(s.since, 0);
    head.writeDoubleLE(s.seenAt, 8);
    head.writeDoubleLE(s.valueAt, 16);
    head.writeUInt8(s.hasValues ? 1 : 0, 24);
    head.writeDoubleLE(s.base, 25);
    head.writeUInt32LE(s.t.length, 33);
    parts.push(head);
    // Copies: the views share the series' buffers, which the next sample may change.
    parts.push(Buffer.from(new Uint8Array(s.t.buffer, s.t.byteOffset, s.t.byteLength)));
    parts.push(Buffer.from(new Uint8Array(s.v.buffer, s.v.byteOffset, s.v.byteLength)));
    count++;
  }
  const header = Buffer.alloc(MAGIC.length + 8 + 4);
  header.write(MAGIC, 0, 'latin1');
  header.writeDoubleLE(savedAt, MAGIC.length);
  header.writeUInt32LE(count, MAGIC.length + 8);
  return Buffer.concat([header, ...parts]);
}

export interface DecodedSeries {
  host: string;
  seriesId: string;
  key: string;
  series: Series;
}

/** Reads a snapshot; throws an Error saying at which byte it stops making sense. */
export function decodeWindows(buf: Buffer): { savedAt: number; series: DecodedSeries[] } {
  let at = 0;
  const need = (n: number, what: string) => {
    if (n < 0 || at + n > buf.length) throw new Error(`windows snapshot ends inside ${what} at byte ${at} (file of ${buf.length} bytes)`);
  };
  const u32 = (what: string) => {
    need(4, what);
    const v = buf.readUInt32LE(at);
    at += 4;
    return v;
  };
  const f64 = (what: string) => {
    need(8, what);
    const v = buf.readDoubleLE(at);
    at += 8;
    return v;
  };
  const str = (what: string) => {
    const n = u32(what);
    need(n, what);
    const s = buf.toString('utf8', at, at + n);
    at += n;
    return s;
  };
  need(MAGIC.length, 'the header');
  if (buf.toString('latin1', 0, MAGIC.length) !== MAGIC) throw new Error(`not a windows snapshot: it does not start with ${MAGIC}`);
  at = MAGIC.length;
  const savedAt = f64('the header');
  const count = u32('the header');
  const series: DecodedSeries[] = [];
  for (let i = 0; i < count; i++) {
    const host = str(`series ${i}`);
    const seriesId = str(`series ${i}`);
    const key = str(`series ${i}`);
    const since = f64(`series ${i}`);
    const seenAt = f64(`series ${i}`);
    const valueAt = f64(`series ${i}`);
    need(1, `series ${i}`);
    const hasValues = buf.readUInt8(at++) === 1;
    const base = f64(`series ${i}`);
    const n = u32(`series ${i}`);
    need(n * 12, `the points of series ${i}`);
    // Copied out of the file's buffer: typed arrays need aligned offsets, and the buffer can go.
    const t = new Uint32Array(n);
    const v = new Float64Array(n);
    for (let j = 0; j < n; j++) t[j] = buf.readUInt32LE(at + 4 * j);
    at += 4 * n;
    for (let j = 0; j < n; j++) v[j] = buf.readDoubleLE(at + 8 * j);
    at += 8 * n;
    for (let j = 1; j < n; j++) if (t[j] <= t[j - 1]) throw new Error(`windows snapshot: the points of series ${i} are not in time order`);
    series.push({ host, seriesId, key, series: Series.fromState({ since, seenAt, valueAt, hasValues, base, t, v }) });
  }
  if (at !== buf.length) throw new Error(`windows snapshot has ${buf.length - at} bytes after its ${count} series`);
  return { savedAt, series };
}
