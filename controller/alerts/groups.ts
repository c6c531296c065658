import type { Clock, Timer } from '../clock.js';
import type { AlertNotice, Notification } from '../notify/index.js';
import type { AlertRecord, NotificationLogEntry } from '../model.js';
import type { Delivery } from './routes.js';

export type { NotificationLogEntry } from '../model.js';

export interface GroupDeps {
  clock: Clock;
  deliver: (n: Notification) => void;
  externalUrl: () => string;
  /** Why an alert must not be paged now (silence, maintenance, inhibition), or null. */
  mutedBy: (alert: AlertRecord) => string | null;
  log: (entry: NotificationLogEntry) => void;
  /** A resolved notice waits this long, so a fault that comes straight back does not page twice. */
  resolveWaitMs?: number;
  /** Something failed inside a flush (it runs on a timer: a throw there would end the process). */
  onError?: (err: unknown, where: string) => void;
}

interface Group {
  key: string;
  delivery: Delivery;
  labels: Record<string, string>;
  alerts: Map<string, AlertRecord>;
  /** Firing alerts people have been told about. */
  told: Set<string>;
  /** Alerts whose muting was logged already. */
  mutedLogged: Set<string>;
  created: number;
  lastFlush: number | null;
  timer: Timer | null;
  timerAt: number | null;
}

export function notice(a: AlertRecord): AlertNotice {
  return {
    id: a.id,
    status: a.state === 'resolved' ? 'resolved' : 'firing',
    rule: a.rule,
    host: a.host,
    severity: a.severity,
    labels: a.labels,
    annotations: { summary: a.summary, ...(a.description ? { description: a.description } : {}) },
    startsAt: a.firedAt ?? a.startsAt,
    endsAt: a.endsAt,
    fingerprint: a.fingerprint,
  };
}

/**
 * Notification groups, Alertmanager-style: alerts of one receiver and the same `groupBy`
 * labels travel together. A new group pages after `groupWait` (0 s by default: speed first),
 * more firing alerts join at most every `groupInterval`, resolved notices go out within
 * `resolveWait` (2 s), and a still-firing, unacknowledged group repeats every
 * `repeatInterval`. One notification per group change, never one per alert.
 */
export class Groups {
  private readonly groups = new Map<string, Group>();

  constructor(private readonly deps: GroupDeps) {}

  /** An alert changed (fired or resolved): it joins each group it is delivered to. */
  update(alert: AlertRecord, deliveries: readonly Delivery[]): void {
    for (const d of deliveries) {
      const labels = d.groupBy.includes('...') ? { ...alert.labels } : Object.fromEntries(d.groupBy.map((k) => [k, alert.labels[k] ?? '']));
      const key = `${d.receiver}:${JSON.stringify(labels)}`;
      let g = this.groups.get(key);
      if (!g) {
        g = {
          key,
          delivery: d,
          labels,
          alerts: new Map(),
          told: new Set(),
          mutedLogged: new Set(),
          created: this.deps.clock.now(),
          lastFlush: null,
          timer: null,
          timerAt: null,
        };
        this.groups.set(key, g);
      }
      g.alerts.set(alert.fingerprint, structuredClone(alert));
      this.schedule(g, alert.state === 'resolved' ? 'resolved' : 'firing');
    }
  }

  /**
   * Several controllers: an alert another controller paged for comes here with its host. People
   * already heard of it, so it joins its groups as told (no second page; they hear it resolve).
   */
  adopt(alert: AlertRecord, deliveries: readonly Delivery[]): void {
    this.update(alert, deliveries);
    for (const g of this.groups.values())
      if (g.alerts.has(alert.fingerprint)) {
        g.told.add(alert.fingerprint);
        g.lastFlush ??= this.deps.clock.now();
      }
  }

  /** Several controllers: a host moved to another controller; its alerts are paged from there. */
  forget(host: string): void {
    for (const g of [...this.groups.values()]) {
      for (const [fp, a] of [...g.alerts])
        if (a.host === host) {
          g.alerts.delete(fp);
          g.told.delete(fp);
        }
      if (g.alerts.size === 0) {
        g.timer?.cancel();
        this.groups.delete(g.key);
      }
    }
  }

  /** Something that mutes alerts changed (a silence ended, host-down resolved): look again. */
  refresh(): void {
    for (const g of this.groups.values()) {
      if ([...g.alerts.values()].some((a) => a.state !== 'resolved' && !g.told.has(a.fingerprint))) this.schedule(g, 'firing');
    }
  }

  /** An alert was acknowledged: it no longer makes its group repeat. */
  acknowledge(alert: AlertRecord): void {
    for (const g of this.groups.values()) if (g.alerts.has(alert.fingerprint)) g.alerts.set(alert.fingerprint, structuredClone(alert));
  }

  close(): void {
    for (const g of this.groups.values()) g.timer?.cancel();
    this.groups.clear();
  }

  private schedule(g: Group, why: 'firing' | 'resolved' | 'repeat'): void {
    const now = this.deps.clock.now();
    const d = g.delivery;
    const at =
      g.lastFlush === null
        ? g.created + d.groupWait
        : why === 'resolved'
          ? now + (this.deps.resolveWaitMs ?? 2000)
          : why === 'repeat'
            ? g.lastFlush + d.repeatInterval
            : g.lastFlush + d.groupInterval;
    const due = Math.max(now, at);
    if (g.timer && g.timerAt !== null && g.timerAt <= due) return;
    g.timer?.cancel();
    g.timerAt = due;
    g.timer = this.deps.clock.after(due - now, () => {
      g.timer = null;
      g.timerAt = null;
      try {
        this.flush(g);
      } catch (e) {
        // A fault in one group's flush costs that flush, never the controller; the next change retries.
        this.deps.onError?.(e, `notification group ${g.key}`);
      }
    });
  }

  /** Why the alert is muted; a mute check that fails lets the page through (people hear rather than not). */
  private mutedBy(a: AlertRecord): string | null {
    try {
      return this.deps.mutedBy(a);
    } catch (e) {
      this.deps.onError?.(e, `mute check of alert ${a.id}`);
      return null;
    }
  }

  private flush(g: Group): void {
    const now = this.deps.clock.now();
    const all = [...g.alerts.values()];
    const firing: AlertRecord[] = [];
    for (const a of all.filter((x) => x.state !== 'resolved')) {
      const muted = this.mutedBy(a);
      if (!muted) firing.push(a);
      else if (!g.mutedLogged.has(a.id)) {
        g.mutedLogged.add(a.id);
        this.deps.log({
          at: new Date(now).toISOString(),
          receiver: g.delivery.receiver,
          groupKey: g.key,
          status: 'firing',
          alerts: [brief(a)],
          outcome: 'muted',
          reason: muted,
        });
      }
    }
    // People hear that an alert resolved only if they heard that it fired.
    const resolved = all.filter((a) => a.state === 'resolved' && g.told.has(a.fingerprint));
    const fresh = firing.filter((a) => !g.told.has(a.fingerprint));
    const repeatDue = g.lastFlush !== null && now - g.lastFlush >= g.delivery.repeatInterval && firing.some((a) => !a.ack);
    if (fresh.length || resolved.length || (repeatDue && firing.length)) {
      this.deps.deliver({
        receiver: g.delivery.receiver,
        status: firing.length ? 'firing' : 'resolved',
        alerts: [...firing, ...resolved].map(notice),
        groupKey: g.key,
        groupLabels: g.labels,
        externalUrl: this.deps.externalUrl(),
      });
      g.lastFlush = now;
    }
    for (const a of all) {
      if (a.state === 'resolved') {
        g.alerts.delete(a.fingerprint);
        g.told.delete(a.fingerprint);
      }
    }
    for (const a of firing) g.told.add(a.fingerprint);
    if (g.alerts.size === 0) {
      this.groups.delete(g.key);
      return;
    }
    if (firing.length) this.schedule(g, 'repeat');
  }
}

function brief(a: AlertRecord): { id: string; alertname: string; host: string } {
  return { id: a.id, alertname: a.labels.alertname ?? a.rule, host: a.host };
}
