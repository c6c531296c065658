import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  LaasError,
  MAX_FRAME_BYTES,
  decode,
  encode,
  errorMessage,
  type BodyOf,
  type Hello,
  type Logger,
  type Message,
  type MessageType,
  type Run,
} from '../../protocol/index.js';
import type { Metrics } from '../metrics.js';
import type { AuthFailures } from '../security/rate-limit.js';
import type { Identity } from '../security/agents.js';
import { Inbound } from './inbound.js';

export const AGENT_PATH = '/v1/agent';
/** Bytes queued to one agent before it counts as not reading (default; `link.maxBufferedBytes`). */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** Links past the upgrade but not yet welcomed; beyond this the controller sheds load (503). */
const MAX_PENDING_HELLOS = 2000;
/** Of those, from one source address (default; `link.maxPendingHellosPerSource`): a tenth, so one address cannot take them all (429); a NAT of 100 agents reconnecting at once still fits. */
const MAX_PENDING_HELLOS_PER_SOURCE = 200;
/** Frames read but not yet handled on one connection before reading from it pauses (defaults; `link.maxQueuedFrames`, `link.maxQueuedBytes`). */
const MAX_QUEUED_FRAMES = 256;
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
/** Ticks per heartbeat period: each pings 1/HEARTBEAT_SLICES of the links. */
const HEARTBEAT_SLICES = 50;

export interface Session {
  readonly id: number;
  readonly remote: string;
  /** Who the bearer token says this is: a shared agent token, or one enrolled agent. */
  readonly identity: Identity;
  hostId?: string;
  hello?: Hello;
}

/** What the controller does with each message an agent may send. */
export interface LinkHandlers {
  hello(session: Session, body: Hello): Promise<BodyOf<'welcome'>>;
  sample(session: Session, body: BodyOf<'sample'>): Promise<void>;
  ack(session: Session, body: BodyOf<'ack'>): Promise<void>;
  /** Returns when the result is recorded; the server then acks it to the agent. */
  result(session: Session, body: BodyOf<'result'>): Promise<void>;
  /** After the welcome is sent: the agent can now take instructions. */
  connected?(session: Session): void;
  disconnected(session: Session): void;
}

export interface LinkOptions {
  /** Who a bearer token belongs to, or undefined. */
  identify: (token: string) => Identity | undefined;
  /** Failed upgrades per source; a source that keeps failing is refused for a while (429). */
  authFailures?: AuthFailures;
  onRefused?: (remote: string, reason: string) => void;
  handlers: LinkHandlers;
  log: Logger;
  metrics: Metrics;
  /** Ping interval; a peer that has not answered the previous ping is cut. */
  heartbeatMs?: number;
  helloTimeoutMs?: number;
  maxBufferedBytes?: number;
  /** Per-connection frame budget (token bucket): `perSecond` on average, `burst` at once. */
  rate?: { perSecond: number; burst: number };
  /**
   * Frames (and their bytes) read from one connection and waiting for their handler: at either
   * bound the socket is not read until half of them are handled (back-pressure on the agent).
   */
  queue?: { maxFrames: number; maxBytes: number };
  /** Connections from one source address that may wait for their welcome at once. */
  maxPendingHellosPerSource?: number;
}

interface Conn {
  session: Session;
  ws: WebSocket;
  alive: boolean;
  queue: Promise<void>;
  /** Called once when the hello is answered or the link closes: it is no longer pending. */
  helloDone: () => void;
  /** Its frame budget and the frames waiting for their handlers. */
  inbound: Inbound;
  cut: boolean;
}

/**
 * The agent link: WebSocket at /v1/agent, bearer token checked at the upgrade (401 before any
 * frame), then hello → welcome. A malformed or unexpected frame closes that connection only.
 */
export class LinkServer {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  private readonly byHost = new Map<string, Conn>();
  private readonly conns = new Set<Conn>();
  private readonly heartbeat: NodeJS.Timeout;
  private nextId = 1;
  private pendingHellos = 0;
  /** Pending hellos by source address (entries removed at zero). */
  private readonly pendingBySource = new Map<string, number>();
  /** This heartbeat round's links, pinged a slice per tick (see ping()). */
  private round: Conn[] = [];
  private roundAt = 0;
  private readonly heartbeatMs: number;

  constructor(private readonly opts: LinkOptions) {
    this.heartbeatMs = opts.heartbeatMs ?? 15_000;
    this.heartbeat = setInterval(() => this.ping(), Math.max(10, Math.floor(this.heartbeatMs / HEARTBEAT_SLICES)));
    this.heartbeat.unref();
  }

  /** Handles an HTTP upgrade; returns false when the path is not the agent link. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== AGENT_PATH) return false;
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const source = req.socket.remoteAddress ?? '?';
    // A herd of reconnecting agents must not bury the controller: turn the excess away to retry.
    if (this.pendingHellos >= MAX_PENDING_HELLOS) {
      this.opts.metrics.upgradesRejected.inc({ reason: 'overloaded' });
      socket.end('HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return true;
    }
    // Nor can one address hold every pending slot (connect, never say hello) and lock the fleet out.
    if ((this.pendingBySource.get(source) ?? 0) >= (this.opts.maxPendingHellosPerSource ?? MAX_PENDING_HELLOS_PER_SOURCE)) {
      this.opts.metrics.upgradesRejected.inc({ reason: 'source-busy' });
      this.opts.log.debug(
        { remote, pending: this.pendingBySource.get(source) },
        'agent refused at upgrade: too many connections from its address waiting for a welcome',
      );
      socket.end('HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return true;
    }
    const wait = this.opts.authFailures?.retryAfter(source) ?? 0;
    if (wait > 0) {
      this.opts.metrics.upgradesRejected.inc({ reason: 'rate-limited' });
      socket.end(`HTTP/1.1 429 Too Many Requests\r\nRetry-After: ${wait}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return true;
    }
    const auth = req.headers.authorization ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
    const identity = token ? this.opts.identify(token) : undefined;
    if (!identity) {
      const reason = token ? 'bad-token' : 'no-token';
      this.opts.metrics.upgradesRejected.inc({ reason });
      this.opts.authFailures?.fail(source);
      this.opts.onRefused?.(remote, reason);
      this.opts.log.warn({ remote, reason }, 'agent refused at upgrade — check the agent token or credential (revoked agents are refused too)');
      socket.end(
        'HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 43\r\n\r\nagent link needs a valid bearer token (401)',
      );
      return true;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, remote, source, identity));
    return true;
  }

  send<T extends MessageType>(hostId: string, type: T, body: BodyOf<T>): boolean {
    const conn = this.byHost.get(hostId);
    if (!conn) return false;
    return this.write(conn, type, body);
  }

  /** Every frame to an agent goes through here: a peer that stops reading is cut, not buffered for without end. */
  private write<T extends MessageType>(conn: Conn, type: T, body: BodyOf<T>): boolean {
    if (conn.ws.readyState !== conn.ws.OPEN) return false;
    const limit = this.opts.maxBufferedBytes ?? MAX_BUFFERED_BYTES;
    if (conn.ws.bufferedAmount > limit) {
      this.cut(conn, 'not-reading', `${conn.ws.bufferedAmount} bytes queued unread (limit ${limit})`);
      this.opts.metrics.framesRejected.inc({ code: 'PEER_NOT_READING' });
      return false;
    }
    conn.ws.send(encode(type, body));
    return true;
  }

  /** Cuts one connection off hard (no closing handshake: the peer is not cooperating). */
  private cut(conn: Conn, reason: 'not-answering' | 'not-reading' | 'flooding', detail: string): void {
    if (conn.cut) return;
    conn.cut = true;
    this.opts.metrics.peersCut.inc({ reason });
    this.opts.log.warn({ host: conn.session.hostId, remote: conn.session.remote, reason, detail }, `agent connection cut off: ${reason}`);
    conn.ws.terminate();
  }

  sendRun(hostId: string, run: Run): boolean {
    return this.send(hostId, 'run', run);
  }

  /** Closes a host's link (e.g. its credential was revoked). */
  disconnect(hostId: string, reason: string): boolean {
    const conn = this.byHost.get(hostId);
    if (!conn) return false;
    conn.ws.close(4001, reason.slice(0, 120));
    const t = setTimeout(() => conn.ws.terminate(), 1000);
    t.unref();
    return true;
  }

  isConnected(hostId: string): boolean {
    return this.byHost.has(hostId);
  }

  get size(): number {
    return this.byHost.size;
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const c of this.conns) c.ws.close(1001, 'controller shutting down');
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        for (const c of this.conns) c.ws.terminate();
        resolve();
      }, 1000);
      t.unref();
      this.wss.close(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private accept(ws: WebSocket, remote: string, source: string, identity: Identity): void {
    let pending = true;
    const helloDone = () => {
      if (!pending) return;
      pending = false;
      this.pendingHellos--;
      const left = (this.pendingBySource.get(source) ?? 1) - 1;
      if (left > 0) this.pendingBySource.set(source, left);
      else this.pendingBySource.delete(source);
    };
    const session: Session = { id: this.nextId++, remote, identity };
    const limits = {
      rate: this.opts.rate,
      maxFrames: this.opts.queue?.maxFrames ?? MAX_QUEUED_FRAMES,
      maxBytes: this.opts.queue?.maxBytes ?? MAX_QUEUED_BYTES,
    };
    const conn: Conn = {
      session,
      ws,
      alive: true,
      queue: Promise.resolve(),
      helloDone,
      cut: false,
      inbound: new Inbound(ws, limits, this.opts.metrics, this.opts.log, () => ({ host: session.hostId, remote })),
    };
    this.conns.add(conn);
    this.pendingHellos++;
    this.pendingBySource.set(source, (this.pendingBySource.get(source) ?? 0) + 1);
    const helloTimer = setTimeout(() => {
      if (!conn.session.hostId) this.reject(conn, new LaasError('FRAME_UNEXPECTED', 'no hello within the time allowed'));
    }, this.opts.helloTimeoutMs ?? 10_000);
    helloTimer.unref();
    ws.on('pong', () => {
      conn.alive = true;
    });
    ws.on('message', (data, isBinary) => {
      if (conn.cut) return;
      // Over budget: dropped before it costs a parse.
      const budget = conn.inbound.admit();
      if (budget === 'flood') {
        this.cut(conn, 'flooding', conn.inbound.floodDetail());
        this.opts.metrics.framesRejected.inc({ code: 'LINK_FLOODING' });
      }
      if (budget !== 'ok') return;
      const bytes = frameBytes(data);
      if (!conn.inbound.roomFor(bytes)) return;
      let msg: Message;
      try {
        if (isBinary) throw new LaasError('FRAME_NOT_JSON', 'binary frames are not part of the protocol');
        msg = decode(data);
      } catch (e) {
        this.reject(conn, e);
        return;
      }
      this.opts.metrics.framesReceived.inc({ type: msg.type });
      conn.inbound.enqueued(bytes);
      conn.queue = conn.queue
        .then(() => this.route(conn, msg))
        .catch((e) => {
          if (e instanceof LaasError) return this.reject(conn, e);
          // Our own fault, not the agent's: keep the link and say what failed.
          this.opts.log.error({ host: conn.session.hostId, type: msg.type, err: errorMessage(e) }, 'handling an agent message failed');
        })
        .finally(() => conn.inbound.handled(bytes));
    });
    ws.on('error', (e) => this.opts.log.debug({ remote, err: errorMessage(e) }, 'agent socket error'));
    ws.on('close', () => {
      clearTimeout(helloTimer);
      helloDone();
      this.conns.delete(conn);
      const host = conn.session.hostId;
      if (host && this.byHost.get(host) === conn) {
        this.byHost.delete(host);
        this.opts.metrics.agentsConnected.set(this.byHost.size);
        this.opts.log.info({ host, remote }, 'agent disconnected');
        this.opts.handlers.disconnected(conn.session);
      }
    });
  }

  private async route(conn: Conn, msg: Message): Promise<void> {
    if (conn.ws.readyState !== conn.ws.OPEN) return;
    const { session } = conn;
    if (!session.hostId && msg.type !== 'hello') throw new LaasError('FRAME_UNEXPECTED', `"${msg.type}" before "hello"`);
    switch (msg.type) {
      case 'hello': {
        if (session.hostId) throw new LaasError('FRAME_UNEXPECTED', 'a second "hello" on one connection');
        // An enrolled agent speaks only for itself.
        if (session.identity.kind === 'agent' && msg.body.agentId !== session.identity.id) {
          throw new LaasError('FRAME_UNEXPECTED', `credential of agent "${session.identity.id}" used to say hello as "${msg.body.agentId}"`);
        }
        const welcome = await this.opts.handlers.hello(session, msg.body);
        session.hostId = welcome.hostId;
        session.hello = msg.body;
        const previous = this.byHost.get(welcome.hostId);
        this.byHost.set(welcome.hostId, conn);
        if (previous) previous.ws.close(4000, 'replaced by a newer connection of the same agent');
        this.opts.metrics.agentsConnected.set(this.byHost.size);
        this.write(conn, 'welcome', welcome);
        conn.helloDone();
        this.opts.log.info({ host: welcome.hostId, remote: session.remote }, 'agent connected');
        return this.opts.handlers.connected?.(session);
      }
      case 'sample':
        return this.opts.handlers.sample(session, msg.body);
      case 'ack':
        return this.opts.handlers.ack(session, msg.body);
      case 'result':
        await this.opts.handlers.result(session, msg.body);
        this.write(conn, 'ack', { id: msg.body.id });
        return;
      default:
        throw new LaasError('FRAME_UNEXPECTED', `agents may not send "${msg.type}"`);
    }
  }

  private reject(conn: Conn, e: unknown): void {
    const err = e instanceof LaasError ? e : new LaasError('FRAME_BAD_BODY', errorMessage(e));
    this.opts.metrics.framesRejected.inc({ code: err.code });
    this.opts.log.warn(
      { remote: conn.session.remote, host: conn.session.hostId, code: err.code, err: err.message },
      'closing agent connection after a bad frame',
    );
    // Close reasons are limited to 123 bytes.
    conn.ws.close(1008, Buffer.from(`${err.code}: ${err.message}`).subarray(0, 120).toString());
    const t = setTimeout(() => conn.ws.terminate(), 1000);
    t.unref();
  }

  /**
   * Each link is pinged once per heartbeat period, but in slices spread over the period: pinging
   * 20,000 links in one go held the event loop for seconds (a socket write each). A link that did
   * not answer the previous round's ping is cut off when its turn comes again.
   */
  private ping(): void {
    const now = Date.now();
    if (this.round.length === 0 && now - this.roundAt >= this.heartbeatMs) {
      this.round = [...this.conns];
      this.roundAt = now;
    }
    const slice = this.round.splice(0, Math.ceil(this.conns.size / HEARTBEAT_SLICES) || 1);
    for (const c of slice) {
      if (!this.conns.has(c)) continue;
      // A link we stopped reading (its queue was full) may have answered: its pong waits unread.
      if (!c.inbound.heldBack() && !c.alive) {
        this.cut(c, 'not-answering', 'no pong to the last ping');
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }
}

function frameBytes(data: WebSocket.RawData): number {
  return Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
}
