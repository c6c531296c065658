import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** As Prometheus asks: OpenMetrics first, the classic text format otherwise. */
const ACCEPT = 'application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

export interface Body {
  text: string;
  /** The exporter answered OpenMetrics (its Content-Type says so). */
  openMetrics: boolean;
}

/**
 * GETs an exporter's page, whole, within `timeoutMs` (headers and body together, so a slow body is
 * cut off too) and at most `maxBytes`; throws an Error whose message is the reason.
 * node:http, not fetch: the agent runs --jitless, where fetch (undici) cannot (agent/probes/http.ts).
 * No redirects and no compression: an exporter answers its own page, and a gzip body would need
 * its own bomb guard.
 */
export async function scrapeBody(target: string, timeoutMs: number, maxBytes: number, stop?: AbortSignal): Promise<Body> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = stop ? AbortSignal.any([timeout, stop]) : timeout;
  const url = new URL(target);
  try {
    const res = await get(url, signal);
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
      res.destroy();
      throw new Error(`HTTP ${status}`);
    }
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      res.destroy();
      throw new Error(`body of ${declared} bytes is over the ${maxBytes}-byte limit`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        res.destroy();
        throw new Error(`body is over the ${maxBytes}-byte limit`);
      }
      chunks.push(chunk);
    }
    const type = String(res.headers['content-type'] ?? '').toLowerCase();
    // Invalid UTF-8 becomes U+FFFD, which a series key may carry; NUL is refused later.
    return { text: Buffer.concat(chunks, size).toString('utf8'), openMetrics: type.startsWith('application/openmetrics-text') };
  } catch (e) {
    if (timeout.aborted) throw new Error(`no complete answer within ${timeoutMs}ms`, { cause: e });
    throw e;
  }
}

function get(url: URL, signal: AbortSignal): Promise<IncomingMessage> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.reject(new Error(`unsupported protocol ${url.protocol}`));
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { method: 'GET', signal, agent: false, headers: { 'user-agent': 'laas-agent', accept: ACCEPT } }, resolvePromise);
    req.on('error', reject);
    req.end();
  });
}
