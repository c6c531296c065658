import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ProbeResult } from './types.js';

/** As fetch (and browsers) allow: more hops than this is a redirect loop. */
const MAX_REDIRECTS = 20;

/**
 * Up when a GET answers 2xx (after redirects) within the timeout.
 *
 * node:http rather than fetch: fetch is undici, which loads megabytes of code and compiles its
 * HTTP parser to WebAssembly on first use — more than the rest of the agent, for one GET a
 * second — and needs WebAssembly, which V8's --jitless (a smaller agent) switches off.
 */
export async function probe(target: string, timeoutMs: number): Promise<ProbeResult> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    let url = new URL(target);
    for (let hop = 0; ; hop++) {
      const res = await get(url, signal);
      // Drop the body unread so the connection is freed at once.
      res.destroy();
      const location = res.headers.location;
      if (res.statusCode !== undefined && [301, 302, 303, 307, 308].includes(res.statusCode) && location !== undefined) {
        if (hop >= MAX_REDIRECTS) return { up: false, detail: 'redirect count exceeded' }; // fetch's words, kept
        url = new URL(location, url);
        continue;
      }
      const status = res.statusCode ?? 0;
      return status >= 200 && status <= 299 ? { up: true } : { up: false, detail: `HTTP ${status}` };
    }
  } catch (e) {
    const err = e as Error & { code?: string };
    if (signal.aborted || err.name === 'TimeoutError' || err.name === 'AbortError') return { up: false, detail: `no answer within ${timeoutMs}ms` };
    return { up: false, detail: err.code ?? err.message };
  }
}

function get(url: URL, signal: AbortSignal): Promise<IncomingMessage> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.reject(new Error(`unsupported protocol ${url.protocol}`));
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolvePromise, reject) => {
    // agent: false — a fresh connection each probe, as a client arriving now would see it.
    const req = request(url, { method: 'GET', signal, agent: false, headers: { 'user-agent': 'laas-agent' } }, resolvePromise);
    req.on('error', reject);
    req.end();
  });
}
