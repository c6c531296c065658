import { z } from 'zod';
import { errorMessage } from '../../protocol/index.js';
import { zDuration } from '../../protocol/zod.js';
import type { AlertNotice, NotifierKind } from './notifier.js';
import { alertLink, postJson, timeoutSchema } from './template.js';

const configSchema = z.strictObject({
  type: z.literal('alertmanager'),
  /** Alertmanager's base URL (with its route prefix, if any), e.g. "http://127.0.0.1:9093". */
  url: z.url({ protocol: /^https?$/, error: 'expected Alertmanager\'s base URL, e.g. "http://127.0.0.1:9093"' }),
  /** Firing alerts are sent again this often, as Prometheus does, so Alertmanager keeps them active. */
  resendInterval: zDuration.pipe(z.number().min(1000, 'must be at least "1s"')).default(60_000),
  timeout: timeoutSchema,
});

/**
 * Heal notices (escalations, breaker openings, approval requests) are events: they never
 * resolve. They are sent once, and Alertmanager resolves them when their endsAt passes.
 */
export const EVENT_ALERTNAME_PREFIX = 'laas-heal-';

/** Alertmanager takes Prometheus label names only: [a-zA-Z_][a-zA-Z0-9_]*. */
export function labelName(name: string): string {
  const s = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[a-zA-Z_]/.test(s) ? s : `_${s}`;
}

function labelSet(values: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [labelName(k), v]));
}

export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  generatorURL: string;
}

/** One alert as Alertmanager's POST /api/v2/alerts takes it. */
export function postableAlert(externalUrl: string, a: AlertNotice, endsAt: string): PostableAlert {
  return {
    labels: labelSet({ ...a.labels, alertname: a.labels.alertname ?? a.rule }),
    annotations: labelSet(a.annotations),
    startsAt: a.startsAt,
    endsAt,
    generatorURL: alertLink({ externalUrl }, a),
  };
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * Resolved alerts carry their end time, kept between start and now: a future endsAt would
 * keep Alertmanager showing them firing, and one before startsAt is refused.
 */
function resolvedEndsAt(a: AlertNotice, now: number): string {
  const starts = Date.parse(a.startsAt);
  const ends = a.endsAt ? Date.parse(a.endsAt) : now;
  return iso(Math.max(Number.isNaN(starts) ? 0 : starts, Math.min(Number.isNaN(ends) ? now : ends, now)));
}

/**
 * Forwards alerts to an Alertmanager. Firing alerts carry endsAt = now + 4 × resendInterval
 * and are re-sent every resendInterval while they fire (as Prometheus does), so Alertmanager
 * resolves them on its own if laas stops; a resolved alert is sent once with its endsAt.
 */
export const alertmanager: NotifierKind<typeof configSchema> = {
  type: 'alertmanager',
  configSchema,
  create(receiver, config, deps) {
    const endpoint = `${config.url.replace(/\/+$/, '')}/api/v2/alerts`;
    const firing = new Map<string, { alert: AlertNotice; externalUrl: string }>();
    const closing = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let busy = false;

    const post = (alerts: PostableAlert[], signal: AbortSignal) => postJson('alertmanager', endpoint, alerts, config.timeout, signal);
    const validUntil = (now: number) => iso(now + 4 * config.resendInterval);

    const resend = async () => {
      if (busy || firing.size === 0) return;
      busy = true;
      const now = Date.now();
      try {
        await post(
          [...firing.values()].map((f) => postableAlert(f.externalUrl, f.alert, validUntil(now))),
          closing.signal,
        );
      } catch (e) {
        if (!closing.signal.aborted)
          deps.log.warn(
            { receiver, alerts: firing.size, err: errorMessage(e) },
            'alertmanager resend failed; will retry at the next resend interval — check that Alertmanager is up',
          );
      } finally {
        busy = false;
      }
    };

    const syncTimer = () => {
      if (firing.size > 0 && !timer && !closing.signal.aborted) {
        timer = setInterval(() => void resend(), config.resendInterval);
        timer.unref();
      } else if (firing.size === 0 && timer) {
        clearInterval(timer);
        timer = undefined;
      }
    };

    return {
      receiver,
      async send(n, signal) {
        const now = Date.now();
        const batch: PostableAlert[] = [];
        for (const a of n.alerts) {
          if (a.status === 'resolved') {
            firing.delete(a.fingerprint);
            batch.push(postableAlert(n.externalUrl, a, resolvedEndsAt(a, now)));
          } else {
            if (!(a.labels.alertname ?? '').startsWith(EVENT_ALERTNAME_PREFIX)) firing.set(a.fingerprint, { alert: a, externalUrl: n.externalUrl });
            batch.push(postableAlert(n.externalUrl, a, validUntil(now)));
          }
        }
        syncTimer();
        if (batch.length) await post(batch, signal);
      },
      close() {
        closing.abort();
        firing.clear();
        syncTimer();
      },
    };
  },
};
