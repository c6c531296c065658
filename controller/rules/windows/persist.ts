import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { errorMessage, type Logger } from '../../../protocol/index.js';
import { decodeWindows, encodeWindows } from './snapshot.js';
import type { Windows } from './store.js';

/**
 * The windows kept across a restart in the controller's data dir: saved when it stops, read
 * when it starts, after the rules (only paths they read come back). A series idle for longer
 * than its window starts over on its next sample (store.ts), so a snapshot from long ago
 * restores nothing that could mislead.
 */
export function saveWindows(windows: Windows, file: string, now: number): { series: number; bytes: number } {
  const buf = encodeWindows(windows, now);
  // Written aside and renamed: a stop cut short leaves the last whole snapshot, never half of one.
  writeFileSync(`${file}.tmp`, buf, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  return { series: windows.stats().series, bytes: buf.length };
}

/** Restores what the file holds; a missing file is nothing to restore, a bad one is logged and left (the next stop overwrites it). */
export function restoreWindows(windows: Windows, file: string, log: Logger): { series: number; savedAt?: number } {
  if (!existsSync(file)) return { series: 0 };
  try {
    const { savedAt, series } = decodeWindows(readFileSync(file));
    let restored = 0;
    for (const s of series) if (windows.adopt(s.host, s.seriesId, s.key, s.series)) restored++;
    return { series: restored, savedAt };
  } catch (e) {
    log.warn(
      { file, err: errorMessage(e) },
      'windows snapshot not restored: windowed rules start with empty windows (the file is replaced when the controller stops)',
    );
    return { series: 0 };
  }
}
