import type { ProbeResult } from './index.js';

/** Up when a GET answers 2xx (after redirects) within the timeout. */
export async function probe(target: string, timeoutMs: number): Promise<ProbeResult> {
  try {
    const res = await fetch(target, { signal: AbortSignal.timeout(timeoutMs), headers: { 'user-agent': 'laas-agent' } });
    // Drop the body unread so the connection is freed at once.
    await res.body?.cancel().catch(() => undefined);
    return res.ok ? { up: true } : { up: false, detail: `HTTP ${res.status}` };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return { up: false, detail: `no answer within ${timeoutMs}ms` };
    return { up: false, detail: err.cause?.code ?? err.cause?.message ?? err.message };
  }
}
