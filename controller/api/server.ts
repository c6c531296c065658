import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LaasError, errorMessage, type ErrorCode, type Logger } from '../../protocol/index.js';

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
}

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

  constructor(tokens: readonly { name: string; token: string; role: Role }[], private readonly log: Logger) {
    this.tokens = tokens.map((t) => ({ name: t.name, role: t.role, hash: sha256(t.token) }));
  }

  route(method: string, path: string, role: Role | 'public', handler: Handler): this {
    const keys: string[] = [];
    const pattern = new RegExp('^' + path.replace(/\{(\w+)\}/g, (_, k: string) => { keys.push(k); return '([^/]+)'; }) + '$');
    this.routes.push({ method, pattern, keys, role, handler });
    return this;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      const method = req.method ?? 'GET';
      let match: { route: Route; m: RegExpExecArray } | undefined;
      let pathKnown = false;
      for (const route of this.routes) {
        const m = route.pattern.exec(url.pathname);
        if (!m) continue;
        pathKnown = true;
        if (route.method === method) { match = { route, m }; break; }
      }
      if (!match) {
        if (pathKnown) throw new ApiError(405, 'API_BAD_REQUEST', `${method} is not allowed on ${url.pathname}`);
        throw new ApiError(404, 'API_NOT_FOUND', `no endpoint ${method} ${url.pathname}`);
      }
      const caller = this.authorize(req, match.route.role);
      const body = method === 'POST' || method === 'PUT' ? await readBody(req) : undefined;
      const params = Object.fromEntries(match.route.keys.map((k, i) => [k, decodeURIComponent(match!.m[i + 1])]));
      const out = await match.route.handler({ method, path: url.pathname, params, query: url.searchParams, body, caller });
      send(res, out.status ?? 200, out.body, out.contentType);
    } catch (e) {
      if (e instanceof ApiError) {
        send(res, e.status, { error: { code: e.code, message: e.message } });
      } else if (e instanceof LaasError) {
        send(res, 400, { error: { code: e.code, message: e.message } });
      } else {
        this.log.error({ url: req.url, err: errorMessage(e) }, 'API request failed');
        send(res, 500, { error: { code: 'INTERNAL', message: 'internal error; see the controller log' } });
      }
    }
  }

  private authorize(req: IncomingMessage, role: Role | 'public'): string {
    if (role === 'public' || this.tokens.length === 0) return 'anonymous';
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const hash = token ? sha256(token) : undefined;
    const found = hash && this.tokens.find((t) => timingSafeEqual(t.hash, hash));
    if (!found) throw new ApiError(401, 'API_UNAUTHORIZED', 'send "Authorization: Bearer <token>" with an API token from the controller config (LAAS_TOKEN for the CLI)');
    if (RANK[found.role] < RANK[role]) throw new ApiError(403, 'API_UNAUTHORIZED', `token "${found.name}" has role ${found.role}; this needs ${role}`);
    return found.name;
  }
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: ErrorCode, message: string) {
    super(message);
  }
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, 'API_BODY_TOO_LARGE', `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw new ApiError(400, 'API_BAD_REQUEST', `body is not valid JSON: ${errorMessage(e)}`);
  }
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
