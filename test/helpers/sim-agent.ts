import WebSocket from 'ws';
import { backoffDelay } from '../../agent/link.js';
import { decode, encode, publicKeyFromPem, verifyRun, type Message, type Result, type Run, type Sample } from '../../protocol/index.js';

/**
 * A lightweight agent that speaks the real protocol over a real WebSocket, for tests that need
 * many hosts (a real agent process per host would cost ~70 MB each). It reconnects when the
 * link drops, answers instructions with the outcome it is told, and sends samples on demand.
 */
export class SimAgent {
  private ws: WebSocket | undefined;
  private stopped = false;
  private seq = 0;
  readonly runs: Run[] = [];
  readonly received: Message[] = [];
  welcomed = false;
  /** HTTP statuses of refused upgrades (401, 429, 503…). */
  readonly refusals: number[] = [];
  reconnect = { minMs: 250, maxMs: 5000 };
  private attempt = 0;
  private retryAfterMs = 0;
  /** What it reports as the `service` fact; setService keeps only up and since (a change is a new probe result). */
  services: NonNullable<Sample['service']> = {};
  outcome: Result['outcome'] = 'succeeded';
  /** When set, a successful service.restart brings the service back (as a real restart would). */
  healOnRun = false;
  /** When set, instructions are acknowledged and never answered, like an action still running. */
  hold = false;
  /**
   * The controller's signing key (PEM) to pin, as a real agent on the shared token must: a run
   * it did not sign is answered refused (ACTION_BAD_SIGNATURE) and kept in `badlySigned`.
   */
  signingKey: string | undefined;
  readonly badlySigned: Run[] = [];

  constructor(
    readonly url: string,
    readonly token: string,
    readonly id: string,
    readonly labels: Record<string, string> = {},
    readonly intervalMs = 10_000,
  ) {}

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${this.url.replace(/^http/, 'ws')}/v1/agent`, { headers: { authorization: `Bearer ${this.token}` } });
      this.ws = ws;
      ws.on('open', () =>
        ws.send(
          encode('hello', {
            agentId: this.id,
            agentVersion: 'sim',
            hostname: this.id,
            labels: this.labels,
            os: { platform: 'linux', release: 'sim' },
            intervalMs: this.intervalMs,
            services: Object.keys(this.services),
            actions: ['service.restart', 'script.run'],
            scripts: [],
          }),
        ),
      );
      ws.on('message', (d) => {
        const msg = decode(d);
        this.received.push(msg);
        if (msg.type === 'welcome') {
          this.welcomed = true;
          resolve();
        }
        if (msg.type === 'run') this.answer(msg.body);
        if (msg.type === 'collect') this.sample('request');
      });
      ws.on('unexpected-response', (_req, res) => {
        this.refusals.push(res.statusCode ?? 0);
        const after = Number(res.headers['retry-after']);
        if (after > 0) this.retryAfterMs = after * 1000;
        ws.terminate();
      });
      ws.on('error', (e) => {
        if (!this.welcomed) reject(e);
      });
      ws.on('close', () => {
        const was = this.welcomed;
        this.welcomed = false;
        if (was) this.attempt = 0;
        if (this.stopped) return;
        // The real agent's jittered backoff, and the controller's Retry-After when it sheds load.
        let delay = backoffDelay(this.attempt++, this.reconnect.minMs, this.reconnect.maxMs);
        if (this.retryAfterMs) {
          delay = Math.max(delay, Math.round(this.retryAfterMs * (1 + Math.random())));
          this.retryAfterMs = 0;
        }
        setTimeout(() => void this.connect().catch(() => undefined), delay);
      });
    });
  }

  /** Sets a service's state and reports it at once, as a real agent does on a change. */
  setService(name: string, up: boolean): void {
    if (this.services[name]?.up !== up) this.services[name] = { up, since: Date.now() };
    this.sample('service-change');
  }

  sample(trigger: Sample['trigger'] = 'interval', extra: Partial<Sample> = {}): void {
    if (!this.welcomed) return;
    this.ws!.send(encode('sample', { seq: this.seq++, ts: Date.now(), trigger, service: { ...this.services }, ...extra }));
  }

  private answer(run: Run): void {
    this.runs.push(run);
    this.ws!.send(encode('ack', { id: run.id }));
    if (this.signingKey !== undefined && !verifyRun(run, publicKeyFromPem(this.signingKey))) {
      this.badlySigned.push(run);
      this.ws!.send(
        encode('result', {
          id: run.id,
          action: run.action,
          outcome: 'refused',
          exitCode: null,
          signal: null,
          stdout: '',
          stderr: '',
          truncated: false,
          startedAt: Date.now(),
          durationMs: 0,
          error: { code: 'ACTION_BAD_SIGNATURE', message: 'not signed by the pinned controller key' },
        }),
      );
      return;
    }
    if (this.hold) return;
    this.ws!.send(
      encode('result', {
        id: run.id,
        action: run.action,
        outcome: this.outcome,
        exitCode: this.outcome === 'succeeded' ? 0 : 1,
        signal: null,
        stdout: '',
        stderr: '',
        truncated: false,
        startedAt: Date.now(),
        durationMs: 1,
      }),
    );
    const service = (run.params as { service?: unknown }).service;
    if (this.healOnRun && this.outcome === 'succeeded' && run.action === 'service.restart' && typeof service === 'string') this.setService(service, true);
  }

  /** Drops the link for good (the host goes silent). */
  stop(): void {
    this.stopped = true;
    this.ws?.terminate();
  }

  /** Drops the link; it reconnects by itself. */
  drop(): void {
    this.ws?.terminate();
  }
}
