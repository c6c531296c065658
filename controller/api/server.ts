import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { LaasError, errorMessage, parseJsonText, type Logger } from '../../protocol/index.js';
import { ApiError, httpStatus } from './errors.js';
import type { AuthFailures } from '../security/rate-limit.js';

export type Role = 'viewer' | 'operator' | 'admin';
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export const MAX_BODY_BYTES = 1024 * 1024;

export interface ApiRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  caller: string;
  role: Role;
  remote: string;
}

export interface ApiOptions {
  /**
   * Called for every mutating request and every refused one: the audit log. `who` is "-" when
   * the request was refused before a caller was known (or a public route was called without a token).
   */
  audit?: (entry: {
    who: string;
    role: string;
    from: string;
    action: string;
    target: string;
    result: 'ok' | 'denied' | 'failed';
    status: number;
    detail?: string;
  }) => void;
  authFailures?: AuthFailures;
  /** Where people reach this controller: its host is allowed in Host and Origin besides loopback names. */
  externalUrl?: string;
}

/** Who is calling: `viaToken` when a bearer token proved it (the browser-safety checks are then not needed). */
interface Caller {
  name: string;
  role: Role;
  viaToken: boolean;
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'DELETE', 'PATCH']);

/**
 * A handler's answer. A `body` that is an AsyncIterable of strings is streamed as it is made
 * (chunked, gzipped when the client accepts it), for large texts such as /metrics.
 */
export type Handler = (req: ApiRequest) => Promise<{ status?: number; body: unknown; contentType?: string }>;

interface Route {
  method: string;
  pattern: RegExp;
  keys: string[];
  role: Role | 'public';
  handler: Handler;
}

/**
 * A small JSON HTTP router: bearer tokens with roles when any are configured, bounded bodies,
 * and every error as {error: {code, message}} with a stable code.
 */
export class Api {
  private readonly routes: Route[] = [];
  private readonly tokens: { name: string; hash: Buffer; role: Role }[];

  /** The externalUrl's host name, lower case, without brackets. */
  private readonly external: string | undefined;

  constructor(
    tokens: readonly { name: string; token: string; role: Role }[],
    private readonly log: Logger,
    private readonly opts: ApiOptions = {},
  ) {
    this.tokens = tokens.map((t) => ({ name: t.name, role: t.role, hash: sha256(t.token) }));
    this.external = opts.externalUrl ? new URL(opts.externalUrl).hostname.toLowerCase().replace(/^\[|\]$/g, '') : undefined;
  }

  route(method: string, path: string, role: Role | 'public', handler: Handler): this {
    const keys: string[] = [];
    const pattern = new RegExp(
      '^' +
        path.replace(/\{(\w+)\}/g, (_, k: string) => {
          keys.push(k);
          return '([^/]+)';
        }) +
        '$',
    );
    this.routes.push({ method, pattern, keys, role, handler });
    return this;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const remote = req.socket.remoteAddress ?? '?';
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    let who = '-';
    let role = '-';
    const audit = (result: 'ok' | 'denied' | 'failed', status: number, detail?: string) => {
      if (method === 'GET' && result === 'ok') return;
      this.opts.audit?.({ who, role, from: remote, action: `${method} ${path}`, target: path, result, status, detail });
    };
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      const wait = this.opts.authFailures?.retryAfter(remote) ?? 0;
      if (wait > 0) {
        res.setHeader('retry-after', String(wait));
        throw new ApiError('API_RATE_LIMITED', `too many failed authentications from ${remote}; try again in ${wait}s`);
      }
      let match: { route: Route; m: RegExpExecArray } | undefined;
      let pathKnown = false;
      for (const route of this.routes) {
        const m = route.pattern.exec(url.pathname);
        if (!m) continue;
        pathKnown = true;
        if (route.method === method) {
          match = { route, m };
          break;
        }
      }
      if (!match) {
        if (pathKnown) throw new ApiError('API_METHOD_NOT_ALLOWED', `${method} is not allowed on ${url.pathname}`);
        throw new ApiError('API_NOT_FOUND', `no endpoint ${method} ${url.pathname}`);
      }
      const caller = this.authorize(req, match.route.role);
      if (!caller.viaToken) this.browserSafe(req, method);
      who = caller.name;
      role = match.route.role === 'public' && !caller.viaToken ? '-' : caller.role;
      const body = method === 'POST' || method === 'PUT' ? await readBody(req) : undefined;
      const params = Object.fromEntries(match.route.keys.map((k, i) => [k, decodeURIComponent(match.m[i + 1])]));
      const out = await match.route.handler({
        method,
        path: url.pathname,
        params,
        query: url.searchParams,
        body,
        caller: caller.name,
        role: caller.role,
        remote,
      });
      if (isStream(out.body)) {
        await this.stream(req, res, out.status ?? 200, out.body, out.contentType ?? 'text/plain');
        return;
      }
      send(res, out.status ?? 200, out.body, out.contentType);
      audit('ok', out.status ?? 200);
    } catch (e) {
      if (e instanceof LaasError) {
        const status = httpStatus(e.code);
        if (status === 401) this.opts.authFailures?.fail(remote);
        if (e instanceof ApiError && e.caller) {
          who = e.caller.name;
          role = e.caller.role;
        }
        audit(status === 401 || status === 403 || status === 429 ? 'denied' : 'failed', status, e.message);
        send(res, status, { error: { code: e.code, message: e.message } });
      } else {
        audit('failed', 500, errorMessage(e));
        this.log.error({ url: req.url, err: errorMessage(e) }, 'API request failed');
        send(res, 500, { error: { code: 'INTERNAL', message: 'internal error; see the controller log' } });
      }
    }
  }

  /**
   * Sends the parts as they come, with back-pressure; the work of making each part is the
   * caller's, between parts the event loop runs. gzip (when accepted, as Prometheus does) runs on
   * libuv's thread pool. A failure mid-way can only cut the connection: the status is sent.
   */
  private async stream(req: IncomingMessage, res: ServerResponse, status: number, body: AsyncIterable<string>, contentType: string): Promise<void> {
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    res.writeHead(status, { 'content-type': contentType, ...(gzip ? { 'content-encoding': 'gzip', vary: 'accept-encoding' } : {}) });
    const source = Readable.from(body, { objectMode: false });
    try {
      await (gzip ? pipeline(source, createGzip(), res) : pipeline(source, res));
    } catch (e) {
      // The client went away, or making a part failed: nothing more can be said on this response.
      if (!res.destroyed) res.destroy();
      if (!(req.destroyed || (e as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE'))
        this.log.error({ url: req.url, err: errorMessage(e) }, 'API response stream failed');
    }
  }

  private authorize(req: IncomingMessage, role: Role | 'public'): Caller {
    // With no API tokens configured the API is open: the controller then listens on loopback only.
    if (this.tokens.length === 0) return { name: role === 'public' ? '-' : 'anonymous', role: 'admin', viaToken: false };
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const hash = token ? sha256(token) : undefined;
    const found = hash && this.tokens.find((t) => timingSafeEqual(t.hash, hash));
    if (role === 'public') return found ? { name: found.name, role: found.role, viaToken: true } : { name: '-', role: 'viewer', viaToken: false };
    if (!found)
      throw new ApiError('API_UNAUTHORIZED', 'send "Authorization: Bearer <token>" with an API token from the controller config (LAAS_TOKEN for the CLI)');
    if (RANK[found.role] < RANK[role])
      throw new ApiError('API_FORBIDDEN', `token "${found.name}" has role ${found.role}; this needs ${role}`, { name: found.name, role: found.role });
    return { name: found.name, role: found.role, viaToken: true };
  }

  /**
   * What a web page could send is refused unless a bearer token (which no page can attach
   * cross-origin) came with it. On an open API the Host must be a loopback name or the
   * externalUrl's host: a page that rebinds its own name to 127.0.0.1 gets its name here (DNS
   * rebinding). A state-changing request must be JSON (a page cannot send that cross-origin
   * without a CORS preflight, which this API never grants) and must not come from another origin.
   */
  private browserSafe(req: IncomingMessage, method: string): void {
    if (this.tokens.length === 0) {
      const host = req.headers.host;
      if (host !== undefined && !this.knownHost(hostOf(host))) {
        throw new ApiError(
          'API_HOST_NOT_ALLOWED',
          `Host ${JSON.stringify(host.slice(0, 100))} is not this controller's: use 127.0.0.1 or localhost, set "externalUrl" to the address people use, or configure apiTokens`,
        );
      }
    }
    if (!STATE_CHANGING.has(method)) return;
    const type = String(req.headers['content-type'] ?? '')
      .split(';')[0]
      .trim()
      .toLowerCase();
    if (type !== 'application/json') {
      throw new ApiError(
        'API_CROSS_SITE',
        `${method} without a bearer token must send "Content-Type: application/json"${type ? `, not ${JSON.stringify(type.slice(0, 100))}` : ''}`,
      );
    }
    const origin = req.headers.origin;
    let originHost: string | undefined;
    try {
      originHost = origin === undefined ? undefined : new URL(origin).hostname;
    } catch {
      originHost = '';
    }
    if ((origin !== undefined && !this.knownHost(originHost!)) || req.headers['sec-fetch-site'] === 'cross-site') {
      throw new ApiError(
        'API_CROSS_SITE',
        `a ${method} from another origin${origin ? ` (${JSON.stringify(origin.slice(0, 100))})` : ''} is refused without a bearer token`,
      );
    }
  }

  private knownHost(host: string): boolean {
    const h = host.toLowerCase().replace(/^\[|\]$/g, '');
    if (h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)) return true;
    return this.external !== undefined && h === this.external;
  }
}

/** The name in a Host header, without its port: "127.0.0.1:7070" → "127.0.0.1", "[::1]:7070" → "::1". */
function hostOf(header: string): string {
  const v6 = /^\[([^\]]*)\](:\d*)?$/.exec(header);
  if (v6) return v6[1];
  return header.replace(/:\d*$/, '');
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError('API_BODY_TOO_LARGE', `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return parseJsonText(Buffer.concat(chunks).toString('utf8'), 'request body', 'API_BAD_REQUEST');
  } catch (e) {
    // Only where and what kind of fault: JSON.parse's own message quotes the body, which may hold a secret.
    throw new ApiError(
      'API_BAD_REQUEST',
      `body is not valid JSON (${(e as LaasError).where ?? 'request body'}: ${(e as Error).message.replace(/^.*?not valid JSON: /, '')})`,
    );
  }
}

function isStream(body: unknown): body is AsyncIterable<string> {
  return typeof body === 'object' && body !== null && Symbol.asyncIterator in body;
}

function send(res: ServerResponse, status: number, body: unknown, contentType = 'application/json'): void {
  if (res.headersSent) return;
  const text = contentType === 'application/json' ? JSON.stringify(body) : String(body);
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
