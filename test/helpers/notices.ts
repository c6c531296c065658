import type { AlertNotice, Notification } from '../../controller/notify/notifier.js';
import { NOTIFIER_KINDS } from '../../controller/notify/index.js';
import type { Notifier } from '../../controller/notify/notifier.js';
import { silentLogger } from '../../protocol/index.js';

/** One alert as the core hands it to notifiers. */
export function alertNotice(over: Partial<AlertNotice> = {}): AlertNotice {
  const host = over.host ?? 'web-1';
  const severity = over.severity ?? 'critical';
  return {
    id: `a-${host}`,
    status: 'firing',
    rule: 'demo/demo-down',
    host,
    severity,
    labels: { alertname: 'demo-down', rule: 'demo/demo-down', namespace: 'demo', host, severity },
    annotations: { summary: `demo is down on ${host}` },
    startsAt: '2026-01-01T10:00:00.000Z',
    endsAt: null,
    fingerprint: `fp-${host}`,
    ...over,
  };
}

export function notification(alerts: AlertNotice[], over: Partial<Notification> = {}): Notification {
  return {
    receiver: 'ops',
    status: alerts.every((a) => a.status === 'resolved') ? 'resolved' : 'firing',
    alerts,
    groupKey: '{}:{alertname="demo-down"}',
    groupLabels: { alertname: 'demo-down' },
    externalUrl: 'http://laas.test',
    ...over,
  };
}

/** Builds a notifier from raw receiver config through the registry, as start-up does. */
export function notifierFrom(config: { type: string } & Record<string, unknown>, receiver = 'ops'): Notifier {
  const kind = NOTIFIER_KINDS.get(config.type);
  if (!kind) throw new Error(`no notifier kind ${config.type}`);
  return kind.create(receiver, kind.configSchema.parse(config), { log: silentLogger });
}
