import type { HealRecord, HealStep } from '../../controller/model.js';
import type { Fleet } from './fleet.js';
import { tcpAnswers, waitFor } from './procs.js';
import type { Received } from './receiver.js';

/** A work order as `GET /api/v1/heals/{id}` returns it: the store's record, as JSON. */
export type HealView = HealRecord;
export type HealStepView = HealStep;

export interface AlertView {
  id: string;
  rule: string;
  host: string;
  state: string;
  heals: string[];
}

/** Alertmanager webhook payload (the parts the tests read). */
export interface AmPayload {
  status: string;
  receiver: string;
  alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string> }[];
}

export const FINAL = new Set(['succeeded', 'failed', 'timed-out', 'rejected', 'skipped', 'shadow']);

/** The rule's work orders, newest first. */
export async function orders(fleet: Fleet, rule: string): Promise<HealView[]> {
  return fleet.api<HealView[]>(`/api/v1/heals?rule=${encodeURIComponent(rule)}`);
}

/** Waits for a work order of `rule` that is not in `seen`, adds it to `seen`, and returns it. */
export async function newOrder(fleet: Fleet, rule: string, seen: Set<string>, timeoutMs = 15_000): Promise<HealView> {
  const order = await waitFor(`a new work order of ${rule}`, async () => (await orders(fleet, rule)).find((h) => !seen.has(h.id)), timeoutMs);
  seen.add(order.id);
  return order;
}

/** Waits until the work order is in one of `states` (a final state by default). */
export async function orderIn(fleet: Fleet, id: string, states: readonly string[] = [...FINAL], timeoutMs = 15_000): Promise<HealView> {
  let last = '';
  return waitFor(
    `work order ${id} to be ${states.join(' or ')}`,
    async () => {
      const h = await fleet.api<HealView>(`/api/v1/heals/${id}`);
      last = h.state;
      return states.includes(h.state) && h;
    },
    timeoutMs,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; it is ${last}`);
  });
}

/** The controller's Prometheus text. */
export async function metrics(fleet: Fleet): Promise<string> {
  return (await fetch(`${fleet.url}/metrics`)).text();
}

/** The value of one series (exact name and labels as printed), or undefined when absent. */
export function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Webhook payloads whose first alert is named `alertname`, optionally only for one work order. */
export function webhooks(received: readonly Received[], alertname: string, workOrder?: string): AmPayload[] {
  return received
    .map((r) => r.body as AmPayload)
    .filter((b) => b?.alerts?.[0]?.labels.alertname === alertname && (workOrder === undefined || b.alerts[0].annotations.workOrder === workOrder));
}

/** Waits until the service at `port` answers (or, with `up = false`, stops answering). */
export async function serviceIs(port: number, up: boolean, timeoutMs = 15_000): Promise<void> {
  await waitFor(`127.0.0.1:${port} to ${up ? 'answer' : 'stop answering'}`, async () => (await tcpAnswers(port)) === up, timeoutMs);
}

/** Waits until the rule's alert on `host` is resolved `count` times in all (so a fault can be made again). */
export async function resolvedAlerts(fleet: Fleet, rule: string, host: string, count: number, timeoutMs = 15_000): Promise<AlertView[]> {
  return waitFor(
    `${count} resolved ${rule} alerts on ${host}`,
    async () => {
      const list = (await fleet.api<AlertView[]>(`/api/v1/alerts?state=resolved&host=${encodeURIComponent(host)}`)).filter((a) => a.rule === rule);
      return list.length >= count && list;
    },
    timeoutMs,
  );
}

/**
 * The most intervals [start, end] open at one instant. At equal times an end counts before a
 * start: a heal that finished frees its slot for one dispatched in the same millisecond.
 */
export function maxOverlap(intervals: readonly { start: number; end: number }[]): number {
  const points = intervals
    .flatMap((i) => [
      { t: i.start, d: 1 },
      { t: i.end, d: -1 },
    ])
    .sort((a, b) => a.t - b.t || a.d - b.d);
  let open = 0;
  let max = 0;
  for (const p of points) {
    open += p.d;
    max = Math.max(max, open);
  }
  return max;
}
