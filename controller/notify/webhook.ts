import { z } from 'zod';
import { zDuration } from '../../protocol/zod.js';
import type { Notification, NotifierKind } from './notifier.js';
import { postJson } from './template.js';

const configSchema = z.strictObject({
  type: z.literal('webhook'),
  url: z.url({ protocol: /^https?$/ }),
  timeout: zDuration.default(10_000),
  headers: z.record(z.string(), z.string()).default({}),
});

/** Alertmanager's webhook payload (version "4"), so existing receivers work unchanged. */
export function alertmanagerPayload(n: Notification): Record<string, unknown> {
  const common = (pick: (a: Notification['alerts'][number]) => Record<string, string>) => {
    const [first, ...rest] = n.alerts.map(pick);
    if (!first) return {};
    return Object.fromEntries(Object.entries(first).filter(([k, v]) => rest.every((o) => o[k] === v)));
  };
  return {
    version: '4',
    groupKey: n.groupKey,
    truncatedAlerts: 0,
    status: n.status,
    receiver: n.receiver,
    groupLabels: n.groupLabels,
    commonLabels: common((a) => a.labels),
    commonAnnotations: common((a) => a.annotations),
    externalURL: n.externalUrl,
    alerts: n.alerts.map((a) => ({
      status: a.status,
      labels: a.labels,
      annotations: a.annotations,
      startsAt: a.startsAt,
      endsAt: a.endsAt ?? '0001-01-01T00:00:00Z',
      generatorURL: `${n.externalUrl}/api/v1/alerts/${a.id}`,
      fingerprint: a.fingerprint,
    })),
  };
}

export const webhook: NotifierKind<typeof configSchema> = {
  type: 'webhook',
  configSchema,
  create(receiver, config) {
    return {
      receiver,
      async send(n, signal) {
        await postJson('webhook', config.url, alertmanagerPayload(n), config.timeout, signal, config.headers);
      },
    };
  },
};
