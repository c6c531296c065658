import { constants } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseExposition } from './parse.js';
import { seriesKey, type SeriesSet } from './series.js';

/** .prom files read per directory (in name order); node_exporter reads all, but each costs a file read. */
export const MAX_FILES = 100;

export interface TextfileOutcome {
  /** Synthetic series: when each file read was last changed, as node_exporter's node_textfile_mtime_seconds. */
  mtimes: Record<string, number>;
  /** Why files were skipped, one reason each (empty when every file read). */
  errors: string[];
  samples: number;
}

/**
 * Reads node_exporter's textfile directory: every regular `*.prom` file, each whole, in one read —
 * writers are meant to write a temporary file and rename it in place, so a read never sees half.
 * A file that cannot be read or parsed is skipped with its reason; the others still count.
 * Other names (the writers' temporary files among them) are ignored.
 */
export async function readTextfiles(dir: string, set: SeriesSet, maxBytes: number): Promise<TextfileOutcome> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.prom')).sort();
  const out: TextfileOutcome = { mtimes: {}, errors: [], samples: 0 };
  if (names.length > MAX_FILES) out.errors.push(`${names.length - MAX_FILES} .prom files past the first ${MAX_FILES} ignored`);
  for (const name of names.slice(0, MAX_FILES)) {
    try {
      const { text, mtimeMs } = await readWhole(join(dir, name), maxBytes);
      // Parsed into a scratch list first: a file that fails half-way must add none of its series.
      const samples: [string, (readonly [string, string])[], number][] = [];
      const r = await parseExposition(text, (n, l, v) => samples.push([n, [...l], v]));
      for (const [n, l, v] of samples) set.add(n, l, v);
      set.addOversize(r.longLines);
      out.samples += r.samples;
      out.mtimes[seriesKey('textfile_mtime_seconds', [['file', name]])] = Math.floor(mtimeMs) / 1000;
    } catch (e) {
      out.errors.push(`${name}: ${(e as Error).message}`);
    }
  }
  return out;
}

/**
 * One open, one stat, one read: the file the name pointed to when opened, never a mix of two.
 * Non-blocking open, so a FIFO named *.prom cannot hang the source.
 */
async function readWhole(path: string, maxBytes: number): Promise<{ text: string; mtimeMs: number }> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > maxBytes) throw new Error(`${st.size} bytes is over the ${maxBytes}-byte limit`);
    const buf = Buffer.alloc(st.size + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    if (bytesRead > st.size) throw new Error('the file grew while read (write a temporary file and rename it in place)');
    return { text: buf.toString('utf8', 0, bytesRead), mtimeMs: st.mtimeMs };
  } finally {
    await fh.close();
  }
}
