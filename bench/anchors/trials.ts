import { tcpAnswers, waitFor } from '../../test/helpers/procs.js';
import type { Receiver } from '../../test/helpers/receiver.js';
import { hasBin } from './common.js';

// What bench/fault-to-fix.ts measures with: the records it reads, the trial helpers, the statistics.

export interface Heal {
  id: string;
  state: string;
  dispatchedAt: string | null;
  faultAt: string | null;
  result: { startedAt: number; durationMs: number } | null;
}
export interface AmPayload {
  status: string;
  alerts: { status: string; labels: Record<string, string> }[];
}

export interface Stats {
  n: number;
  min: number;
  median: number;
  p99: number;
  max: number;
}
/** Nearest-rank p99: with fewer than 100 samples it is the worst one, which is the honest reading. */
export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { n: s.length, min: s[0], median, p99: s[Math.max(0, Math.ceil(0.99 * s.length) - 1)], max: s[s.length - 1] };
}

/** Anchors are required under CI; elsewhere a missing one is skipped with the reason. */
export function available(what: string, bins: readonly (readonly string[])[], skipped: Record<string, string>): boolean {
  if (bins.every((b) => hasBin([...b]))) return true;
  const reason = `${what}: ${bins
    .filter((b) => !hasBin([...b]))
    .map((b) => b[0])
    .join(', ')} not found (sudo bench/anchors/install.sh)`;
  if (process.env.CI) throw new Error(`anchor missing under CI: ${reason}`);
  process.stderr.write(`skipping ${reason}\n`);
  skipped[what] = reason;
  return false;
}

/** Waits for the service to stop answering (the kill took), then for it to answer again. */
export async function answeringAgain(port: number, killedAt: number, timeoutMs: number): Promise<number> {
  await waitFor('service gone', async () => !(await tcpAnswers(port)), 2000, 2);
  await waitFor('service answering again', () => tcpAnswers(port), timeoutMs, 5);
  return Date.now() - killedAt;
}

export function firingAfter(receiver: Receiver, since: number, match: (p: AmPayload) => boolean): number | undefined {
  return receiver.received.find((r) => r.at >= since && (r.body as AmPayload).status === 'firing' && match(r.body as AmPayload))?.at;
}
