import type { WebSocket } from 'ws';
import type { Logger } from '../../protocol/index.js';
import type { Metrics } from '../metrics.js';

export interface InboundLimits {
  /** Frame budget (token bucket): `perSecond` on average, `burst` at once; absent = no budget. */
  rate?: { perSecond: number; burst: number };
  /** Frames read and waiting for their handler, and their bytes: at either, reading pauses. */
  maxFrames: number;
  maxBytes: number;
}

/**
 * What one agent connection may make the controller take in: a frame budget, and a bound on
 * the frames read but not yet handled (each handler awaits the store), held by not reading the
 * socket — TCP then pushes back on the agent — until half of them are handled.
 */
export class Inbound {
  private tokens: number;
  private refilledAt = performance.now();
  /** Frames dropped over the budget so far. */
  private dropped = 0;
  private queued = 0;
  private queuedBytes = 0;
  private paused = false;
  /** Paused at some point since heldBack() was last asked. */
  private wasPaused = false;

  /** `who` names the connection in logs (host, remote). */
  constructor(
    private readonly ws: WebSocket,
    private readonly limits: InboundLimits,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly who: () => Record<string, unknown>,
  ) {
    this.tokens = limits.rate?.burst ?? 0;
  }

  /**
   * Whether a frame fits the budget: 'ok'; 'drop' it unread (the agent keeps results until
   * acked, so nothing owed is lost); or 'flood': a burst's worth more dropped, cut the peer.
   */
  admit(): 'ok' | 'drop' | 'flood' {
    const rate = this.limits.rate;
    if (!rate) return 'ok';
    const now = performance.now();
    this.tokens = Math.min(rate.burst, this.tokens + ((now - this.refilledAt) / 1000) * rate.perSecond);
    this.refilledAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 'ok';
    }
    this.dropped++;
    this.metrics.framesDropped.inc({ reason: 'rate-limit' });
    if (this.dropped === 1)
      this.log.warn({ ...this.who(), perSecond: rate.perSecond, burst: rate.burst }, 'agent sends frames faster than its budget; dropping the excess unread');
    return this.dropped > rate.burst ? 'flood' : 'drop';
  }

  /** Why the peer was cut for flooding, for the log. */
  floodDetail(): string {
    return `${this.dropped} frames over the budget of ${this.limits.rate?.perSecond}/s (burst ${this.limits.rate?.burst})`;
  }

  /**
   * False when the frame does not fit the queue even at twice its bounds: reading paused at the
   * bounds, but the frames of a socket read already taken in still arrive. Dropped unread then,
   * as safely as frames over the budget.
   */
  roomFor(bytes: number): boolean {
    if (this.queued < 2 * this.limits.maxFrames && this.queuedBytes + bytes <= 2 * this.limits.maxBytes) return true;
    this.metrics.framesDropped.inc({ reason: 'queue-full' });
    return false;
  }

  /** A frame joins the queue; at a bound, reading stops until half the queue is handled. */
  enqueued(bytes: number): void {
    this.queued++;
    this.queuedBytes += bytes;
    this.metrics.framesQueued.inc();
    if (this.paused || (this.queued < this.limits.maxFrames && this.queuedBytes < this.limits.maxBytes)) return;
    this.paused = true;
    this.wasPaused = true;
    this.ws.pause();
    this.metrics.readsPaused.inc();
    this.log.debug(
      { ...this.who(), queued: this.queued, bytes: this.queuedBytes },
      'agent frames arrive faster than they are handled; not reading from it for now',
    );
  }

  /** A frame's handler finished (or it was skipped on a closed link). */
  handled(bytes: number): void {
    this.queued--;
    this.queuedBytes -= bytes;
    this.metrics.framesQueued.dec();
    if (this.paused && this.queued <= this.limits.maxFrames / 2 && this.queuedBytes <= this.limits.maxBytes / 2) {
      this.paused = false;
      this.ws.resume();
    }
  }

  /** True when reading was paused at any time since the last ask: a pong sent meanwhile may still wait unread. */
  heldBack(): boolean {
    const was = this.wasPaused;
    this.wasPaused = this.paused;
    return was;
  }
}
