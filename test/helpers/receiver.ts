import { createServer, type Server } from 'node:http';

export interface Received {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  at: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** What the next requests are answered with: the HTTP status and a JSON body (none when undefined). */
  status: number;
  reply: unknown;
  close(): Promise<void>;
}

/**
 * A real HTTP receiver on 127.0.0.1 that records every POST (with its raw query string in
 * `path`); `status` and `reply` set what it answers, e.g. a chat robot's {errcode: 0}.
 */
export async function startReceiver(opts: { reply?: unknown; path?: string } = {}): Promise<Receiver> {
  const received: Received[] = [];
  const state: { status: number; reply: unknown } = { status: 200, reply: opts.reply };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: unknown = Buffer.concat(chunks).toString();
      try {
        body = JSON.parse(body as string);
      } catch {
        /* keep text */
      }
      received.push({ path: req.url ?? '/', headers: req.headers, body, at: Date.now() });
      if (state.reply === undefined) res.writeHead(state.status).end();
      else res.writeHead(state.status, { 'content-type': 'application/json' }).end(JSON.stringify(state.reply));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}${opts.path ?? '/hook'}`,
    received,
    get status() {
      return state.status;
    },
    set status(s: number) {
      state.status = s;
    },
    get reply() {
      return state.reply;
    },
    set reply(r: unknown) {
      state.reply = r;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
