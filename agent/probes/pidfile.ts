import { readFile } from 'node:fs/promises';
import type { ProbeResult } from './index.js';

/**
 * Up when the pid in the pid file names a live process — not a zombie: a killed daemon whose
 * parent never reaps it (e.g. under an init that does not reap) still has a pid, but it is dead.
 * Two small file reads, cheap enough to run every 100 ms. A pid reused by another process after
 * the service died (and left its pid file behind) looks up: daemons that remove their pid file
 * on exit, or a `tcp` probe, do not have that gap.
 */
export async function probe(target: string, timeoutMs: number): Promise<ProbeResult> {
  let text: string;
  try {
    text = await readFile(target, { encoding: 'utf8', signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { up: false, detail: code === 'ENOENT' ? `no pid file ${target}` : `cannot read ${target}: ${code ?? (e as Error).message}` };
  }
  const trimmed = text.trim();
  const pid = Number(trimmed);
  if (!/^\d+$/.test(trimmed) || !Number.isSafeInteger(pid) || pid < 1) return { up: false, detail: `${target} holds no pid: ${JSON.stringify(trimmed.slice(0, 40))}` };
  if (process.platform !== 'linux') {
    try { process.kill(pid, 0); return { up: true }; } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM' ? { up: true } : { up: false, detail: `process ${pid} (from ${target}) is gone` };
    }
  }
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return { up: false, detail: `process ${pid} (from ${target}) is gone` };
  }
  // The state follows the comm, which is in parentheses and may itself contain ") ".
  const state = stat.charAt(stat.lastIndexOf(')') + 2);
  if (state === 'Z' || state === 'X') return { up: false, detail: `process ${pid} (from ${target}) is dead, a zombie its parent has not reaped` };
  return { up: true };
}
