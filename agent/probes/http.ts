import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { MAX_REDIRECTS, type HttpExpect } from '../config.js';
import { keep, type OnLost } from './http-hold.js';
import type { ProbeResult } from './types.js';

/** The most of a body a probe reads to match it: a health page fits, a download cannot hold the probe. */
export const MAX_BODY_BYTES = 65_536;
const REDIRECTS = [301, 302, 303, 307, 308];

/**
 * Up when a GET answers with an expected status (2xx by default, after up to 20 redirects), the
 * body matches (when asked), and the answer came within `maxLatencyMs` (when set) — all within
 * the timeout. The result carries the final status and the latency (first request to the final
 * response's headers, redirects included).
 *
 * node:http rather than fetch: fetch is undici, which loads megabytes of code and compiles its
 * HTTP parser to WebAssembly on first use — more than the rest of the agent, for one GET a
 * second — and needs WebAssembly, which V8's --jitless (a smaller agent) switches off.
 */
export function probe(target: string, timeoutMs: number, _env?: unknown, expect: HttpExpect = {}): Promise<ProbeResult> {
  return look(target, timeoutMs, expect);
}

/**
 * Like probe(), but the answer comes on a keep-alive connection that is then kept open (see
 * http-hold.ts): when the server's process dies the kernel closes it, and `onLost` is called
 * (once) — the caller probes again to confirm. A server that closes the connection after each
 * answer holds nothing: the result says why (`notHeld`), and the periodic probe carries on.
 */
export function hold(target: string, timeoutMs: number, expect: HttpExpect = {}, onLost: OnLost): Promise<ProbeResult> {
  return look(target, timeoutMs, expect, onLost);
}

async function look(target: string, timeoutMs: number, expect: HttpExpect, onLost?: OnLost): Promise<ProbeResult> {
  const signal = AbortSignal.timeout(timeoutMs);
  const started = performance.now();
  const maxRedirects = expect.redirects ?? MAX_REDIRECTS;
  try {
    let url = new URL(target);
    for (let hop = 0; ; hop++) {
      const res = await get(url, signal, onLost !== undefined);
      // Taken now: once the answer is read, a keep-alive socket is detached from it.
      const socket = res.socket;
      const latencyMs = Math.round((performance.now() - started) * 10) / 10;
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (REDIRECTS.includes(status) && location !== undefined && maxRedirects > 0) {
        res.destroy();
        if (hop >= maxRedirects) return { up: false, detail: 'redirect count exceeded', status, latencyMs }; // fetch's words, kept
        url = new URL(location, url);
        continue;
      }
      const measured = { status, latencyMs };
      const wanted = expect.status === undefined ? status >= 200 && status <= 299 : expect.status.some(([lo, hi]) => status >= lo && status <= hi);
      if (!wanted) {
        res.destroy();
        return { up: false, detail: `HTTP ${status}`, ...measured };
      }
      if (expect.bodyMatch !== undefined || expect.bodyContains !== undefined) {
        const problem = await bodyProblem(res, expect, signal, onLost !== undefined);
        if (problem !== undefined) return { up: false, detail: problem, ...measured };
      } else if (!onLost) {
        // Drop the body unread so the connection is freed at once.
        res.destroy();
      }
      if (expect.maxLatencyMs !== undefined && latencyMs > expect.maxLatencyMs) {
        res.destroy();
        return { up: false, detail: `answered in ${Math.round(latencyMs)}ms, slower than the ${expect.maxLatencyMs}ms limit`, ...measured };
      }
      if (!onLost) return { up: true, ...measured };
      const kept = await keep(res, socket, MAX_BODY_BYTES, signal, onLost);
      return typeof kept === 'string' ? { up: true, notHeld: kept, ...measured } : { up: true, held: kept, ...measured };
    }
  } catch (e) {
    const err = e as Error & { code?: string };
    if (signal.aborted || err.name === 'TimeoutError' || err.name === 'AbortError') return { up: false, detail: `no answer within ${timeoutMs}ms` };
    return { up: false, detail: err.code ?? err.message };
  }
}

/** Why the body (its first MAX_BODY_BYTES) does not match, or undefined when it does. */
async function bodyProblem(res: IncomingMessage, expect: HttpExpect, signal: AbortSignal, reuse: boolean): Promise<string | undefined> {
  const body = await readCapped(res, MAX_BODY_BYTES, signal, reuse);
  if (expect.bodyContains !== undefined && !body.includes(expect.bodyContains)) {
    return `body does not contain ${JSON.stringify(expect.bodyContains)} (first ${MAX_BODY_BYTES} bytes read)`;
  }
  if (expect.bodyMatch !== undefined) {
    const re = await compiled(expect.bodyMatch);
    if (typeof re === 'string') return re;
    if (!re.matcher(body).find()) return `body does not match /${expect.bodyMatch}/ (first ${MAX_BODY_BYTES} bytes read)`;
  }
  return undefined;
}

/** With `reuse`, a body read to its end leaves the connection open for the next request (a held http probe). */
function readCapped(res: IncomingMessage, max: number, signal: AbortSignal, reuse = false): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      res.removeAllListeners('data');
      if (!reuse || !res.complete) res.destroy();
      resolvePromise(Buffer.concat(chunks, Math.min(size, max)).toString('utf8'));
    };
    res.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= max) done();
    });
    res.once('end', done);
    res.once('error', reject);
    // Cut off by the timeout: that is the verdict, not a short body that fails to match.
    res.once('close', () => (signal.aborted ? reject(signal.reason as Error) : done()));
  });
}

type Re2 = { matcher(input: string): { find(): boolean } };
const patterns = new Map<string, Re2 | string>();

/**
 * The body pattern compiled with RE2 (re2js: time linear in the body, so no pattern can hang the
 * agent on a hostile page), or why it cannot be. Loaded on first use: re2js and its Unicode tables
 * cost a few MiB of RSS, which an agent without a body pattern should not pay.
 */
async function compiled(pattern: string): Promise<Re2 | string> {
  let re = patterns.get(pattern);
  if (re === undefined) {
    const { RE2JS } = await import('re2js');
    try {
      re = RE2JS.compile(pattern);
    } catch (e) {
      re = `bodyMatch is not a regular expression RE2 accepts: ${(e as Error).message.replace(/^error parsing regexp: /, '')}`;
    }
    if (patterns.size < 1000) patterns.set(pattern, re);
  }
  return re;
}

function get(url: URL, signal: AbortSignal, keepAlive: boolean): Promise<IncomingMessage> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.reject(new Error(`unsupported protocol ${url.protocol}`));
  const https = url.protocol === 'https:';
  const request = https ? httpsRequest : httpRequest;
  // A fresh connection each probe, as a client arriving now would see it; a holding probe's own
  // agent keeps that one connection open afterwards (one socket, never shared between probes).
  const agent = keepAlive ? new (https ? HttpsAgent : HttpAgent)({ keepAlive: true, keepAliveMsecs: 10_000, maxSockets: 1 }) : false;
  if (!agent) {
    return new Promise((resolvePromise, reject) => {
      const req = request(url, { method: 'GET', signal, agent, headers: { 'user-agent': 'laas-agent' } }, resolvePromise);
      req.on('error', reject);
      req.end();
    });
  }
  // The timeout must end this request, not the connection held after it: it is let go at the answer's end.
  return new Promise((resolvePromise, reject) => {
    const abort = () => req.destroy(signal.reason as Error);
    const req = request(url, { method: 'GET', agent, headers: { 'user-agent': 'laas-agent' } }, (res) => {
      res.once('end', () => signal.removeEventListener('abort', abort));
      resolvePromise(res);
    });
    signal.addEventListener('abort', abort, { once: true });
    req.on('error', reject);
    req.end();
  });
}
