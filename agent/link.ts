import WebSocket from 'ws';
import * as v from 'valibot';
import {
  LaasError,
  MAX_FRAME_BYTES,
  decode,
  encode,
  errorMessage,
  MESSAGE_SCHEMAS,
  validator,
  type Hello,
  type Logger,
  type Message,
  type Result,
  type Run,
  type Sample,
  type Welcome,
} from '../protocol/index.js';
import { StateFile } from './state-file.js';

/** Result ids named in hello at most (the frame must stay small); the rest just arrive. */
const HELLO_RESULT_IDS = 2000;

export interface LinkOptions {
  url: string;
  /** Several controllers sharing one database: each reconnect tries them in a fresh shuffled order. */
  urls?: readonly string[];
  token: string;
  /** PEM of the only CA trusted for wss:// (the controller is pinned to it). */
  ca?: string;
  hello: () => Hello;
  log: Logger;
  reconnect: { minMs: number; maxMs: number };
  /** Results kept until the controller acknowledges them; past this the oldest are dropped. */
  outboxLimit: number;
  /** Samples kept while disconnected (the newest win; the dropped oldest are counted). */
  sampleBufferLimit?: number;
  /** Where unacknowledged results are kept across agent restarts; memory only when absent. */
  outboxFile?: string;
  onRun: (run: Run) => void;
  /** The controller wants a fresh sample now. */
  onCollect?: () => void;
  onWelcome?: (welcome: Welcome) => void;
  /** No frame or ping from the controller for this long means the link is dead. */
  idleTimeoutMs?: number;
}

/** Full-jitter exponential backoff: spreads reconnecting agents so they don't arrive at once. */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(minMs / 2 + random() * (ceiling - minMs / 2));
}

function shuffle<T>(list: T[], random = Math.random): T[] {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
}

/** The agent's end of the link: connect, hello, reconnect with backoff, and an outbox of results. */
export class AgentLink {
  private ws: WebSocket | undefined;
  private welcomed = false;
  private stopped = false;
  private attempt = 0;
  private retryAfterMs = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly outbox = new Map<string, Result>();
  private samples: Sample[] = [];
  /** Samples dropped during the current outage (logged when the link is back). */
  private droppedThisOutage = 0;
  private readonly outboxFile: StateFile<Result[]> | undefined;
  private outboxDirty = false;
  /** Which link (by its connect count) each unacknowledged result was last sent on: once per link. */
  private readonly sentOn = new Map<string, number>();
  private outboxSaving: Promise<void> | undefined;
  /** Counters a test or the agent's own metrics can read. */
  readonly stats = { connects: 0, samplesDropped: 0, samplesBuffered: 0, resultsDropped: 0 };

  constructor(private readonly opts: LinkOptions) {
    if (opts.outboxFile) {
      this.outboxFile = new StateFile(opts.outboxFile, validator(v.array(MESSAGE_SCHEMAS.result)), opts.log);
      for (const r of this.outboxFile.load() ?? []) this.outbox.set(r.id, r);
      if (this.outbox.size) opts.log.info({ results: this.outbox.size }, 'unacknowledged results restored; they are sent when the link is up');
    }
  }

  /** Ids of results waiting for an ack, for hello: the controller then knows they are coming. */
  pendingResultIds(): string[] {
    return [...this.outbox.keys()].slice(-HELLO_RESULT_IDS);
  }

  get connected(): boolean {
    return this.welcomed;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Sends a sample now, or keeps it (bounded) until the link is back. */
  sendSample(sample: Sample): void {
    if (this.welcomed && this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(encode('sample', sample));
      return;
    }
    this.samples.push({ ...sample, buffered: true });
    const limit = this.opts.sampleBufferLimit ?? 60;
    if (this.samples.length > limit) {
      const n = this.samples.length - limit;
      if (this.droppedThisOutage === 0) this.opts.log.warn({ limit }, 'sample buffer full while the link is down; dropping the oldest samples (counted)');
      this.stats.samplesDropped += n;
      this.droppedThisOutage += n;
      this.samples = this.samples.slice(-limit);
    }
  }

  /** Keeps the result until acknowledged (on disk too, when configured); sends it when connected. */
  sendResult(result: Result): void {
    this.outbox.set(result.id, result);
    if (this.outbox.size > this.opts.outboxLimit) {
      const oldest = this.outbox.keys().next().value as string;
      this.outbox.delete(oldest);
      this.sentOn.delete(oldest);
      this.stats.resultsDropped++;
      this.opts.log.warn({ id: oldest }, 'outbox full; dropped the oldest unacknowledged result');
    }
    // On disk before it leaves: an agent restarted before the ack still has it to send.
    void this.saveOutbox().then(() => {
      if (this.welcomed && this.outbox.has(result.id) && this.sentOn.get(result.id) !== this.stats.connects) {
        this.sentOn.set(result.id, this.stats.connects);
        this.ws?.send(encode('result', result));
      }
    });
  }

  /** Resolves once the outbox as it is now is on disk; writes are coalesced. */
  private saveOutbox(): Promise<void> {
    if (!this.outboxFile) return Promise.resolve();
    this.outboxDirty = true;
    this.outboxSaving ??= (async () => {
      try {
        while (this.outboxDirty) {
          this.outboxDirty = false;
          await this.outboxFile!.save([...this.outbox.values()]);
        }
      } catch (e) {
        this.opts.log.error({ err: errorMessage(e), file: this.opts.outboxFile }, 'cannot write the outbox; results are kept in memory only');
      } finally {
        this.outboxSaving = undefined;
      }
    })();
    return this.outboxSaving;
  }

  ack(id: string): void {
    if (this.welcomed) this.ws?.send(encode('ack', { id }));
  }

  hasPendingResult(id: string): boolean {
    return this.outbox.has(id);
  }

  pendingResults(): number {
    return this.outbox.size;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.idleTimer);
    // Every change already started its write; wait for it (and write nothing when nothing changed).
    await this.outboxSaving;
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 1000);
      ws.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      ws.close(1000, 'agent stopping');
    });
  }

  /** Controller URLs still to try in this round; refilled shuffled, the one just lost last. */
  private order: string[] = [];
  private current: string | undefined;

  private nextUrl(): string {
    const all = this.opts.urls?.length ? this.opts.urls : [this.opts.url];
    if (all.length === 1) return all[0];
    if (!this.order.length) {
      const others = shuffle(all.filter((u) => u !== this.current));
      this.order = this.current && all.includes(this.current) ? [...others, this.current] : others;
    }
    return this.order.shift()!;
  }

  private connect(): void {
    if (this.stopped) return;
    const base = this.nextUrl();
    this.current = base;
    const url = /\/v1\/agent\/?$/.test(base) ? base : base.replace(/\/$/, '') + '/v1/agent';
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${this.opts.token}` },
      maxPayload: MAX_FRAME_BYTES,
      handshakeTimeout: 10_000,
      ...(this.opts.ca ? { ca: this.opts.ca } : {}),
    });
    this.ws = ws;
    ws.on('open', () => {
      this.touch();
      ws.send(encode('hello', this.opts.hello()));
    });
    ws.on('ping', () => this.touch());
    ws.on('message', (data, isBinary) => {
      this.touch();
      let msg: Message;
      try {
        if (isBinary) throw new LaasError('FRAME_NOT_JSON', 'binary frames are not part of the protocol');
        msg = decode(data);
      } catch (e) {
        this.opts.log.error({ err: errorMessage(e) }, 'controller sent a bad frame; reconnecting');
        ws.close(1008, 'bad frame');
        return;
      }
      this.route(msg);
    });
    ws.on('unexpected-response', (_req, res) => {
      if (res.statusCode === 503 || res.statusCode === 429) {
        // The controller is shedding load: come back after what it asks, spread by jitter.
        const after = Number(res.headers['retry-after']);
        this.retryAfterMs = (Number.isFinite(after) && after > 0 ? after : 2) * 1000;
        this.opts.log.warn({ status: res.statusCode, retryAfterMs: this.retryAfterMs }, 'controller busy; retrying later');
      } else {
        const hint = res.statusCode === 401 ? ' — the agent token is wrong or the agent was revoked; fix "token" or enroll again' : '';
        this.opts.log.error({ status: res.statusCode, url }, `controller refused the link (HTTP ${res.statusCode})${hint}`);
      }
      ws.terminate();
    });
    ws.on('error', (e) => {
      // A certificate the pinned CA did not sign is worth saying out loud; other errors retry quietly.
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code))
        this.opts.log.error({ err: errorMessage(e), code, url }, 'controller certificate not trusted — check "ca" in the agent config');
      else this.opts.log.debug({ err: errorMessage(e), url }, 'link error');
    });
    ws.on('close', (code, reason) => {
      clearTimeout(this.idleTimer);
      const was = this.welcomed;
      this.welcomed = false;
      if (this.ws !== ws) return;
      if (was) this.opts.log.warn({ code, reason: reason.toString() }, 'link to controller lost; reconnecting');
      this.scheduleReconnect();
    });
  }

  private route(msg: Message): void {
    switch (msg.type) {
      case 'welcome': {
        this.welcomed = true;
        this.order = []; // a drop from here starts a fresh round with the others first
        this.attempt = 0;
        this.stats.connects++;
        this.opts.log.info({ host: msg.body.hostId, controller: msg.body.controllerVersion }, 'connected to controller');
        // What was held back goes first, oldest first, so the controller sees time run forward.
        if (this.samples.length || this.droppedThisOutage) {
          this.opts.log.info({ sent: this.samples.length, dropped: this.droppedThisOutage }, 'link back: sending the samples buffered while it was down');
        }
        for (const s of this.samples) this.ws!.send(encode('sample', s));
        this.stats.samplesBuffered += this.samples.length;
        this.samples = [];
        this.droppedThisOutage = 0;
        for (const r of this.outbox.values()) {
          this.sentOn.set(r.id, this.stats.connects);
          this.ws!.send(encode('result', r));
        }
        this.opts.onWelcome?.(msg.body);
        return;
      }
      case 'run':
        this.opts.onRun(msg.body);
        return;
      case 'ack':
        this.sentOn.delete(msg.body.id);
        if (this.outbox.delete(msg.body.id)) void this.saveOutbox();
        return;
      case 'collect':
        this.opts.onCollect?.();
        return;
      default:
        this.opts.log.error({ type: msg.type }, 'controller sent a message agents do not take; reconnecting');
        this.ws?.close(1008, `unexpected ${msg.type}`);
    }
  }

  private touch(): void {
    clearTimeout(this.idleTimer);
    const ws = this.ws;
    this.idleTimer = setTimeout(() => {
      this.opts.log.warn('no word from the controller; dropping the link');
      ws?.terminate();
    }, this.opts.idleTimeoutMs ?? 45_000);
    this.idleTimer.unref();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    let delay = backoffDelay(this.attempt++, this.opts.reconnect.minMs, this.opts.reconnect.maxMs);
    if (this.retryAfterMs) {
      delay = Math.max(delay, Math.round(this.retryAfterMs * (1 + Math.random())));
      this.retryAfterMs = 0;
    }
    this.opts.log.debug({ delay, attempt: this.attempt }, 'reconnecting');
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}
