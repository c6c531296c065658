import { randomBytes } from 'node:crypto';
import type { ClusterSecret } from '../security/cluster-secret.js';

/** Why a cluster message was dropped (the metric's label). */
export type Rejection = 'malformed' | 'bad-mac' | 'stale' | 'replayed';

/** How far a message's time may be from ours: controllers' clocks must agree this well (NTP). */
export const MAX_SKEW_MS = 60_000;
/** Nonces remembered at most (only of messages whose MAC was good, so no outsider fills it). */
const MAX_NONCES = 200_000;

/**
 * Authenticates controller-to-controller messages: anyone who can connect to the database can
 * LISTEN and NOTIFY on its channels, so each message carries an HMAC (a key derived from the
 * cluster secret, which the database does not hold) over its exact text, a time and a nonce;
 * a message seen once, or too old or new, is refused.
 */
export class MessageAuth {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly secret: ClusterSecret,
    private readonly now: () => number = Date.now,
  ) {}

  /** The NOTIFY payload for a message. */
  seal(msg: object): string {
    const m = JSON.stringify({ ...msg, ts: this.now(), nonce: randomBytes(12).toString('base64url') });
    return JSON.stringify({ m, mac: this.secret.mac(m) });
  }

  /** The message in a payload, or why it is refused. */
  open(payload: string): { ok: true; msg: Record<string, unknown> } | { ok: false; reason: Rejection } {
    let outer: { m?: unknown; mac?: unknown };
    try {
      outer = JSON.parse(payload) as typeof outer;
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    if (typeof outer !== 'object' || outer === null || typeof outer.m !== 'string' || typeof outer.mac !== 'string') return { ok: false, reason: 'malformed' };
    if (!this.secret.verify(outer.m, outer.mac)) return { ok: false, reason: 'bad-mac' };
    const msg = JSON.parse(outer.m) as Record<string, unknown>;
    const now = this.now();
    if (typeof msg.ts !== 'number' || typeof msg.nonce !== 'string' || Math.abs(now - msg.ts) > MAX_SKEW_MS) return { ok: false, reason: 'stale' };
    if (this.seen.has(msg.nonce)) return { ok: false, reason: 'replayed' };
    this.remember(msg.nonce, msg.ts, now);
    return { ok: true, msg };
  }

  private remember(nonce: string, ts: number, now: number): void {
    if (this.seen.size >= MAX_NONCES) {
      // A nonce older than the skew window is refused as stale anyway: forget those first.
      for (const [n, t] of this.seen) if (Math.abs(now - t) > MAX_SKEW_MS) this.seen.delete(n);
      if (this.seen.size >= MAX_NONCES) this.seen.delete(this.seen.keys().next().value!);
    }
    this.seen.set(nonce, ts);
  }
}
