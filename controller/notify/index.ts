import { z } from 'zod';
import { errorMessage, type Logger } from '../../protocol/index.js';
import type { Metrics } from '../metrics.js';
import type { NotificationLogEntry } from '../model.js';
import type { Notification, Notifier, NotifierKind } from './notifier.js';
import { webhook } from './webhook.js';
import { slack } from './slack.js';
import { email } from './email.js';
import { dingtalk } from './dingtalk.js';
import { feishu } from './feishu.js';
import { wecom } from './wecom.js';
import { alertmanager } from './alertmanager.js';

/** The notifier registry: one line per kind. A duplicate type is a programming error. */
const KINDS: readonly NotifierKind[] = [webhook, slack, email, dingtalk, feishu, wecom, alertmanager];

export const NOTIFIER_KINDS: ReadonlyMap<string, NotifierKind> = (() => {
  const map = new Map<string, NotifierKind>();
  for (const k of KINDS) {
    if (map.has(k.type)) throw new Error(`duplicate notifier type ${k.type}`);
    map.set(k.type, k);
  }
  return map;
})();

/** Receiver config: an object whose `type` picks the notifier, checked by that notifier's schema. */
export const receiverSchema = z.looseObject({ type: z.string() }).superRefine((value, ctx) => {
  const kind = NOTIFIER_KINDS.get(value.type);
  if (!kind) {
    ctx.addIssue({
      code: 'custom',
      path: ['type'],
      message: `unknown receiver type ${JSON.stringify(value.type)} (known: ${[...NOTIFIER_KINDS.keys()].join(', ')})`,
    });
    return;
  }
  const parsed = kind.configSchema.safeParse(value);
  // Issues pass through with their own codes, so an unknown field still reads "unknown field".
  if (!parsed.success) for (const issue of parsed.error.issues) ctx.addIssue({ ...issue });
});

export interface NotifyOptions {
  receivers: Record<string, { type: string }>;
  log: Logger;
  metrics: Metrics;
  /** Delivery attempts per notification before it is counted as failed. */
  attempts?: number;
  retryBaseMs?: number;
  /** Told of every attempt, for the notification log. */
  onAttempt?: (entry: NotificationLogEntry) => void;
}

/** Sends notifications to receivers, retrying with backoff; never throws into the caller. */
export class Notifications {
  private notifiers: Map<string, Notifier>;
  private readonly inflight = new Set<Promise<void>>();
  private readonly abort = new AbortController();

  constructor(private readonly opts: NotifyOptions) {
    this.notifiers = this.build(opts.receivers);
  }

  /**
   * A reloaded controller.json's receivers: notifications from now on use them; deliveries
   * already under way finish with the notifier they started with, which is closed after them.
   */
  setReceivers(receivers: Record<string, { type: string }>): void {
    const old = this.notifiers;
    this.notifiers = this.build(receivers);
    void Promise.allSettled([...this.inflight]).then(() => {
      for (const n of old.values()) n.close?.();
    });
  }

  private build(receivers: Record<string, { type: string }>): Map<string, Notifier> {
    const notifiers = new Map<string, Notifier>();
    for (const [name, cfg] of Object.entries(receivers)) {
      const kind = NOTIFIER_KINDS.get(cfg.type);
      if (!kind) throw new Error(`unknown receiver type ${cfg.type}`);
      notifiers.set(name, kind.create(name, kind.configSchema.parse(cfg), { log: this.opts.log }));
    }
    return notifiers;
  }

  has(receiver: string): boolean {
    return this.notifiers.has(receiver);
  }

  send(n: Notification): void {
    const p = this.deliver(n).finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  private async deliver(n: Notification): Promise<void> {
    const notifier = this.notifiers.get(n.receiver);
    const record = (outcome: NotificationLogEntry['outcome'], extra: Partial<NotificationLogEntry> = {}) =>
      this.opts.onAttempt?.({
        at: new Date().toISOString(),
        receiver: n.receiver,
        groupKey: n.groupKey,
        status: n.status,
        alerts: n.alerts.map((a) => ({ id: a.id, alertname: a.labels.alertname ?? a.rule, host: a.host })),
        outcome,
        ...extra,
      });
    if (!notifier) {
      record('unknown-receiver');
      this.opts.log.warn({ receiver: n.receiver }, 'no such receiver; notification dropped — define it under "receivers" in the controller config');
      this.opts.metrics.notifyAttempts.inc({ receiver: n.receiver, outcome: 'unknown-receiver' });
      return;
    }
    const attempts = this.opts.attempts ?? 3;
    for (let i = 1; i <= attempts; i++) {
      try {
        await notifier.send(n, this.abort.signal);
        this.opts.metrics.notifyAttempts.inc({ receiver: n.receiver, outcome: 'sent' });
        record('sent', { attempt: i });
        this.opts.log.debug({ receiver: n.receiver, status: n.status, alerts: n.alerts.length }, 'notification sent');
        return;
      } catch (e) {
        this.opts.metrics.notifyAttempts.inc({ receiver: n.receiver, outcome: 'failed' });
        record('failed', { attempt: i, error: errorMessage(e).slice(0, 500) });
        if (this.abort.signal.aborted) return;
        const last = i === attempts;
        this.opts.log.warn(
          { receiver: n.receiver, attempt: i, err: errorMessage(e) },
          last ? 'notification failed; giving up — check the receiver URL and that it is up' : 'notification failed; retrying',
        );
        if (!last) await new Promise((r) => setTimeout(r, (this.opts.retryBaseMs ?? 500) * 2 ** (i - 1)));
      }
    }
  }

  /** Waits for deliveries under way (bounded), then cancels what is left. */
  async close(timeoutMs = 2000): Promise<void> {
    await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    this.abort.abort();
    for (const n of this.notifiers.values()) n.close?.();
  }
}

export type { Notification, AlertNotice } from './notifier.js';
