import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { OnExit, PidWatcher } from './pid-watch.js';
import { readStat } from './process.js';
import type { Held, ProbeResult } from './types.js';

/** A pid file holds a number and a newline: anything longer is not one, and is not read further. */
export const MAX_PIDFILE_BYTES = 64;

/**
 * Up when the pid in the pid file names a live process — not a zombie: a killed daemon whose
 * parent never reaps it (e.g. under an init that does not reap) still has a pid, but it is dead.
 * Two small file reads, cheap enough to run every 100 ms. A pid reused by another process after
 * the service died (and left its pid file behind) looks up: daemons that remove their pid file
 * on exit, or a `tcp` probe, do not have that gap. The pid file itself must be a regular file of
 * at most MAX_PIDFILE_BYTES: a symbolic link is not followed (whoever can plant one could point
 * the agent at any file), and a FIFO or device is never waited on.
 */
export function probe(target: string): Promise<ProbeResult> {
  return look(target);
}

/**
 * Like probe(), but the live process is watched (pid-watch.ts): `onLost` is called the moment it
 * exits, and the caller looks again to confirm. Its start time ties the watch to the process seen
 * here, not to one that takes its pid later.
 */
export function watch(target: string, _timeoutMs: number, pids: PidWatcher, onLost: OnExit): Promise<ProbeResult> {
  return look(target, (pid, start) => pids.watch(pid, start, onLost));
}

async function look(target: string, watchPid?: (pid: number, start: string | undefined) => Held | undefined): Promise<ProbeResult> {
  const read = await readPidFile(target);
  if ('detail' in read) return { up: false, detail: read.detail };
  const text = read.text;
  const trimmed = text.trim();
  const pid = Number(trimmed);
  if (!/^\d+$/.test(trimmed) || !Number.isSafeInteger(pid) || pid < 1)
    return { up: false, detail: `${target} holds no pid: ${JSON.stringify(trimmed.slice(0, 40))}` };
  if (process.platform !== 'linux') {
    try {
      process.kill(pid, 0);
      return { up: true };
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM' ? { up: true } : { up: false, detail: `process ${pid} (from ${target}) is gone` };
    }
  }
  const stat = await readStat(pid);
  if (!stat) return { up: false, detail: `process ${pid} (from ${target}) is gone` };
  if (stat.state === 'Z' || stat.state === 'X') return { up: false, detail: `process ${pid} (from ${target}) is dead, a zombie its parent has not reaped` };
  const held = watchPid?.(pid, stat.start);
  return held ? { up: true, held } : { up: true };
}

/** The pid file's text, or why it cannot be one. (A read that hangs is bounded by the watcher.) */
async function readPidFile(target: string): Promise<{ text: string } | { detail: string }> {
  let handle;
  try {
    handle = await open(target, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { detail: `no pid file ${target}` };
    if (code === 'ELOOP') return { detail: `${target} is a symbolic link; a pid file must be a regular file (links are not followed)` };
    return { detail: `cannot read ${target}: ${code ?? (e as Error).message}` };
  }
  try {
    if (!(await handle.stat()).isFile()) return { detail: `${target} is not a regular file` };
    const buf = Buffer.alloc(MAX_PIDFILE_BYTES + 1);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    if (bytesRead > MAX_PIDFILE_BYTES) return { detail: `${target} is larger than ${MAX_PIDFILE_BYTES} bytes: not a pid file` };
    return { text: buf.subarray(0, bytesRead).toString('utf8') };
  } catch (e) {
    return { detail: `cannot read ${target}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  } finally {
    await handle.close().catch(() => undefined);
  }
}
