import { createHash, randomUUID } from 'node:crypto';
import type { HostView } from '../rules/evaluate.js';
import { renderSummary } from '../rules/template.js';
import type { AlertRecord, AlertState } from '../model.js';

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
  /** After the condition clears, the alert stays firing this long (hysteresis). */
  keepFiringForMs?: number;
  /** Flap damping: this many condition changes within the window mark the alert flapping. */
  flap?: { windowMs: number; changes: number };
}

export const FLAP_DEFAULT = { windowMs: 600_000, changes: 10 };

/** What a verdict rests on, for the summary: the sample's facts and the keys wildcards matched. */
export interface Evidence {
  facts: Readonly<Record<string, unknown>>;
  match?: readonly string[];
}

export interface Transition {
  alert: AlertRecord;
  from: AlertState | null;
  to: AlertState;
}

export interface AlertStatesOptions {
  onTransition: (t: Transition) => void;
  /** A held alert's condition cleared or came back (no state change): it must be stored, or a restart forgets it. */
  onHoldChange?: (alert: AlertRecord) => void;
  newId?: () => string;
}

export function fingerprint(labels: Record<string, string>): string {
  const canonical = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join('\u0000');
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/**
 * The alert state machine, one alert per rule and host: pending while the condition holds for
 * less than `for`, then firing, then resolved when it clears. Time comes from the caller.
 */
export class AlertStates {
  private readonly active = new Map<string, AlertRecord>();
  /** Recent condition changes per rule and host, across alert lifetimes, for flap damping. */
  private readonly changes = new Map<string, number[]>();
  private readonly rules = new Map<string, AlertRule>();
  /** Rule and host pairs that fired and resolved before: firing again counts as a change. */
  private readonly recentlyResolved = new Set<string>();
  private readonly newId: () => string;

  constructor(private readonly opts: AlertStatesOptions) {
    this.newId = opts.newId ?? (() => randomUUID());
  }

  /** Restores alerts that were open when the controller stopped. */
  restore(alerts: readonly AlertRecord[]): void {
    for (const a of alerts) {
      if (a.state === 'resolved') continue;
      const c = structuredClone(a);
      // Records written before these fields existed.
      c.ack ??= null;
      c.flapping ??= false;
      c.clearedAt ??= null;
      this.active.set(key(a.rule, a.host), c);
    }
  }

  /** Several controllers: the host's open alerts move to the controller that now holds its link. */
  release(host: string): AlertRecord[] {
    const out: AlertRecord[] = [];
    for (const [k, a] of [...this.active])
      if (a.host === host) {
        this.active.delete(k);
        out.push(a);
      }
    return out;
  }

  get(ruleId: string, host: string): AlertRecord | undefined {
    return this.active.get(key(ruleId, host));
  }

  list(): AlertRecord[] {
    return [...this.active.values()];
  }

  /** Feeds one verdict of a rule for a host; returns the transition it caused, if any. */
  observe(rule: AlertRule, host: HostView, holds: boolean, at: number, evidence?: Evidence): Transition | undefined {
    this.rules.set(rule.id, rule);
    const k = key(rule.id, host.id);
    const current = this.active.get(k);
    // The common case on every sample: the rule does not hold and there is no alert. Nothing to do.
    if (!holds && !current) return undefined;
    const iso = new Date(at).toISOString();
    if (holds) {
      if (!current) {
        if (this.recentlyResolved.has(k)) this.change(k, rule, at);
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
          summary: renderSummary(rule.summary ?? `${rule.name} on {{host}}`, {
            host: host.id,
            rule: rule.id,
            severity: rule.severity,
            labels: host.labels,
            ...evidence,
          }),
          description: rule.description,
          labels,
          fingerprint: fingerprint(labels),
          heals: [],
          updatedAt: iso,
          ack: null,
          flapping: this.isFlapping(k, rule, at),
          clearedAt: null,
        };
        this.active.set(k, alert);
        return this.emit(alert, null);
      }
      if (current.clearedAt) {
        // back before keepFiringFor ran out: the same incident goes on
        current.clearedAt = null;
        current.updatedAt = iso;
        this.change(k, rule, at);
        return this.flapCheck(current, k, rule, at) ?? this.held(current);
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
    if (current.state === 'pending') return this.resolve(current, at);
    if (!current.clearedAt) {
      current.clearedAt = iso;
      current.updatedAt = iso;
      this.change(k, rule, at);
      const t = this.flapCheck(current, k, rule, at);
      if (t) return t;
      return this.expire(current, rule, at) ?? this.held(current);
    }
    return this.expire(current, rule, at);
  }

  private held(alert: AlertRecord): undefined {
    this.opts.onHoldChange?.(alert);
    return undefined;
  }

  /** Resolves firing alerts whose hold (keepFiringFor, flap damping) ran out with no new sample. */
  tick(now: number): Transition[] {
    const out: Transition[] = [];
    for (const a of [...this.active.values()]) {
      const rule = this.rules.get(a.rule);
      if (a.clearedAt && rule) {
        const t = this.expire(a, rule, now);
        if (t) out.push(t);
      }
    }
    return out;
  }

  /** Records who acknowledged an open alert. */
  acknowledge(id: string, by: string, comment: string, at: number): AlertRecord | undefined {
    const alert = [...this.active.values()].find((a) => a.id === id);
    if (!alert) return undefined;
    alert.ack = { by, at: new Date(at).toISOString(), comment };
    alert.updatedAt = alert.ack.at;
    return alert;
  }

  private expire(alert: AlertRecord, rule: AlertRule, at: number): Transition | undefined {
    const keep = Math.max(rule.keepFiringForMs ?? 0, alert.flapping ? (rule.flap ?? FLAP_DEFAULT).windowMs : 0);
    return at - Date.parse(alert.clearedAt!) >= keep ? this.resolve(alert, at) : undefined;
  }

  private change(k: string, rule: AlertRule, at: number): void {
    const window = (rule.flap ?? FLAP_DEFAULT).windowMs;
    const list = (this.changes.get(k) ?? []).filter((t) => t > at - window);
    list.push(at);
    this.changes.set(k, list);
  }

  private isFlapping(k: string, rule: AlertRule, at: number): boolean {
    const { windowMs, changes } = rule.flap ?? FLAP_DEFAULT;
    return (this.changes.get(k) ?? []).filter((t) => t > at - windowMs).length >= changes;
  }

  /** Marks an alert flapping when its condition changed too often; it then stays firing until calm. */
  private flapCheck(alert: AlertRecord, k: string, rule: AlertRule, at: number): Transition | undefined {
    if (alert.flapping || !this.isFlapping(k, rule, at)) return undefined;
    alert.flapping = true;
    alert.updatedAt = new Date(at).toISOString();
    return { alert, from: alert.state, to: alert.state };
  }

  /** Resolves an open alert (its condition cleared, or its rule was removed). */
  resolve(alert: AlertRecord, at: number): Transition {
    const from = alert.state;
    const k = key(alert.rule, alert.host);
    this.active.delete(k);
    if (from === 'firing') {
      this.recentlyResolved.add(k);
      if (this.recentlyResolved.size > 100_000) this.recentlyResolved.clear();
    }
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
