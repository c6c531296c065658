import { createHash, randomUUID } from 'node:crypto';
import type { HostView } from '../rules/evaluate.js';
import type { AlertRecord, AlertState } from '../store/store.js';

/** What the alert state machine needs to know of a rule. */
export interface AlertRule {
  id: string;
  name: string;
  namespace: string;
  severity: string;
  forMs: number;
  summary?: string;
  description: string;
  labels: Readonly<Record<string, string>>;
}

export interface Transition {
  alert: AlertRecord;
  from: AlertState | null;
  to: AlertState;
}

export interface AlertManagerOptions {
  onTransition: (t: Transition) => void;
  newId?: () => string;
}

/** Renders {{host}}, {{rule}}, {{severity}}, {{labels.x}} in summaries. */
export function renderTemplate(template: string, values: { host: string; rule: string; severity: string; labels: Record<string, string> }): string {
  return template.replace(/\{\{\s*([\w.-]+)\s*\}\}/g, (whole, key: string) => {
    if (key === 'host' || key === 'rule' || key === 'severity') return values[key];
    if (key.startsWith('labels.')) return values.labels[key.slice(7)] ?? '';
    return whole;
  });
}

export function fingerprint(labels: Record<string, string>): string {
  const canonical = Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join('\u0000');
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/**
 * The alert state machine, one alert per rule and host: pending while the condition holds for
 * less than `for`, then firing, then resolved when it clears. Time comes from the caller.
 */
export class AlertManager {
  private readonly active = new Map<string, AlertRecord>();
  private readonly newId: () => string;

  constructor(private readonly opts: AlertManagerOptions) {
    this.newId = opts.newId ?? (() => randomUUID());
  }

  /** Restores alerts that were open when the controller stopped. */
  restore(alerts: readonly AlertRecord[]): void {
    for (const a of alerts) if (a.state !== 'resolved') this.active.set(key(a.rule, a.host), structuredClone(a));
  }

  get(ruleId: string, host: string): AlertRecord | undefined {
    return this.active.get(key(ruleId, host));
  }

  list(): AlertRecord[] {
    return [...this.active.values()];
  }

  /** Feeds one verdict of a rule for a host; returns the transition it caused, if any. */
  observe(rule: AlertRule, host: HostView, holds: boolean, at: number): Transition | undefined {
    const k = key(rule.id, host.id);
    const current = this.active.get(k);
    const iso = new Date(at).toISOString();
    if (holds) {
      if (!current) {
        const labels = alertLabels(rule, host);
        const firing = rule.forMs <= 0;
        const alert: AlertRecord = {
          id: this.newId(),
          rule: rule.id,
          host: host.id,
          severity: rule.severity,
          state: firing ? 'firing' : 'pending',
          startsAt: iso,
          firedAt: firing ? iso : null,
          endsAt: null,
          summary: renderTemplate(rule.summary ?? `${rule.name} on {{host}}`, { host: host.id, rule: rule.id, severity: rule.severity, labels: { ...host.labels } }),
          description: rule.description,
          labels,
          fingerprint: fingerprint(labels),
          heals: [],
          updatedAt: iso,
        };
        this.active.set(k, alert);
        return this.emit(alert, null);
      }
      if (current.state === 'pending' && at - Date.parse(current.startsAt) >= rule.forMs) {
        current.state = 'firing';
        current.firedAt = iso;
        current.updatedAt = iso;
        return this.emit(current, 'pending');
      }
      return undefined;
    }
    if (!current) return undefined;
    return this.resolve(current, at);
  }

  /** Resolves an open alert (its condition cleared, or its rule was removed). */
  resolve(alert: AlertRecord, at: number): Transition {
    const from = alert.state;
    this.active.delete(key(alert.rule, alert.host));
    alert.state = 'resolved';
    alert.endsAt = new Date(at).toISOString();
    alert.updatedAt = alert.endsAt;
    return this.emit(alert, from);
  }

  /** Records that a work order was opened for an alert. */
  linkHeal(alert: AlertRecord, healId: string): void {
    alert.heals.push(healId);
  }

  private emit(alert: AlertRecord, from: AlertState | null): Transition {
    const t = { alert, from, to: alert.state };
    this.opts.onTransition(t);
    return t;
  }
}

function key(rule: string, host: string): string {
  return `${rule}\u0000${host}`;
}

function alertLabels(rule: AlertRule, host: HostView): Record<string, string> {
  return { ...host.labels, ...rule.labels, alertname: rule.name, rule: rule.id, namespace: rule.namespace, host: host.id, severity: rule.severity };
}
