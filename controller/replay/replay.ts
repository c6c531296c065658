import type { Result, Run, Sample } from '../../protocol/index.js';
import { silentLogger } from '../../protocol/index.js';
import { SimClock } from '../clock.js';
import { Core } from '../core.js';
import { createMetrics } from '../metrics.js';
import type { AlertRecord, HealRecord } from '../model.js';
import type { Notification } from '../notify/index.js';
import { quietController, type ControllerFacts } from '../self-facts.js';
import { CONTROLLER_HOST } from '../self-rules.js';
import { MemoryStore } from '../store/memory.js';
import type { Rule } from '../rules/schema.js';

type Outcome = Result['outcome'];

export interface TimelineEntry {
  /** Ms after the start. */
  at: number;
  host: string;
  /** Facts to merge into the host's current facts, one level deep; null removes a fact or a key. */
  facts: Record<string, unknown>;
  /** Repeat the entry at this period until `until`. */
  every?: number;
  until?: number;
  /** From now on the host's agent sends nothing. */
  silent?: boolean;
}

export interface ReplayInput {
  /** Epoch ms the simulated clock starts at. */
  start: number;
  hosts: Record<string, { labels: Record<string, string>; agentVersion: string }>;
  interval: number;
  timeline: readonly TimelineEntry[];
  decisions: readonly { at: number; decision: 'approve' | 'reject'; rule: string; host: string }[];
  /** Ms after the start to run to; default a minute after the last timeline entry. */
  end?: number;
  agent: { results: Record<string, Outcome | Outcome[]>; resultAfter: number };
  /** Every host also reports its current facts each interval (rule tests); replayed history has its own points. */
  intervalSamples: boolean;
  hostDownAfterMs: number;
}

export interface ReplayResult {
  /** In time order; ties by rule then host. */
  alerts: AlertRecord[];
  heals: HealRecord[];
  notifications: { at: string; receiver: string; status: string; alertname?: string; host?: string; rule?: string }[];
  /** Rules that judged samples without enough data in a window, and on how many. */
  short: { rule: string; samples: number }[];
}

/**
 * The controller's own core on a simulated clock, fed a timeline of facts per host, with agents
 * that answer each heal as told: what `laas rules test` checks against expectations and
 * `laas rules backtest` reports from Prometheus history. Entries for host "controller" set the
 * `controller` fact that rules with `"scope": "controller"` judge.
 */
export async function replay(input: ReplayInput, rules: readonly Rule[]): Promise<ReplayResult> {
  const clock = new SimClock(input.start);
  const settle = () => new Promise<void>((r) => setImmediate(r));
  const notifications: (Notification & { at: string })[] = [];
  const facts = new Map<string, Record<string, unknown>>();
  const answers = new Map<string, number>();
  let seq = 0;
  // eslint-disable-next-line prefer-const -- assigned once below, after the callbacks that read it
  let core!: Core;
  const sampleOf = (host: string, trigger: Sample['trigger']): Sample => ({ seq: seq++, ts: clock.now(), trigger, ...(facts.get(host) ?? {}) });
  const agentAnswer = (host: string, run: Run) => {
    const spec = input.agent.results[run.action] ?? 'succeeded';
    const n = answers.get(run.action) ?? 0;
    answers.set(run.action, n + 1);
    const out = Array.isArray(spec) ? spec[Math.min(n, spec.length - 1)] : spec;
    const result: Result = {
      id: run.id,
      action: run.action,
      outcome: out,
      exitCode: out === 'succeeded' ? 0 : out === 'failed' ? 1 : null,
      signal: null,
      stdout: '',
      stderr: '',
      truncated: false,
      startedAt: clock.now(),
      durationMs: input.agent.resultAfter,
    };
    void core.ack(host, run.id);
    clock.after(input.agent.resultAfter, () => void core.result(host, result));
  };
  const store = new MemoryStore();
  const metrics = createMetrics();
  core = await Core.create({
    store,
    metrics,
    log: silentLogger,
    clock,
    receivers: new Set(),
    send: (host, run) => {
      agentAnswer(host, run);
      return true;
    },
    requestSample: (host) => {
      clock.after(0, () => void core.sample(host, sampleOf(host, 'request')));
    },
    deliver: (n) => notifications.push({ ...n, at: new Date(clock.now()).toISOString() }),
    hostDownAfterMs: input.hostDownAfterMs,
    externalUrl: () => 'http://laas.test',
    // A healthy controller, changed by the timeline's entries for host "controller".
    controllerFacts: () => (facts.get(CONTROLLER_HOST)?.controller ?? quietController(Object.keys(input.hosts).length)) as ControllerFacts,
  });
  facts.set(CONTROLLER_HOST, { controller: quietController(Object.keys(input.hosts).length) });
  core.setRules(rules);
  for (const [id, { labels, agentVersion }] of Object.entries(input.hosts)) {
    await core.hello({
      agentId: id,
      agentVersion,
      hostname: id,
      labels,
      os: { platform: 'linux', release: 'test' },
      intervalMs: input.interval,
      services: [],
      actions: [],
      scripts: [],
    });
  }

  // Every sample and decision becomes a timer on the simulated clock, then time runs.
  let last = 0;
  const silent = new Set<string>();
  for (const e of input.timeline) {
    const times = e.every ? range(e.at, e.until ?? e.at, e.every) : [e.at];
    for (const t of times) {
      last = Math.max(last, t);
      clock.after(t, () => {
        if (e.silent) {
          silent.add(e.host);
          return;
        }
        const current = facts.get(e.host) ?? {};
        if (e.host === CONTROLLER_HOST) return void facts.set(e.host, mergeFacts(current, e.facts));
        facts.set(e.host, withSince(mergeFacts(current, e.facts), current, clock.now()));
        // A change is reported at once, as agents do for services.
        void core.sample(e.host, sampleOf(e.host, 'service-change'));
      });
    }
  }
  for (const d of input.decisions) {
    clock.after(d.at, () => {
      const order = core.heal.openOrders().find((o) => o.rule === d.rule && o.host === d.host && o.state === 'awaiting-approval');
      if (order) void (d.decision === 'approve' ? core.heal.approve(order.id, 'rules-test') : core.heal.reject(order.id, 'rules-test'));
    });
  }
  const end = input.end ?? last + 60_000;
  // Simulated agents report their current facts every interval until they fall silent.
  if (input.intervalSamples)
    for (let t = input.interval; t <= end; t += input.interval) {
      clock.after(t, () => {
        for (const host of Object.keys(input.hosts)) if (!silent.has(host)) void core.sample(host, sampleOf(host, 'interval'));
      });
    }
  for (let t = 1000; t <= end; t += 1000) clock.after(t, () => void core.sweep());
  await clock.advanceTo(input.start + end, settle);

  // In time order; ties by rule then host, so a test's expected order is stable.
  const order =
    <T extends { rule: string; host: string }>(at: (x: T) => string) =>
    (a: T, b: T) =>
      at(a).localeCompare(at(b)) || a.rule.localeCompare(b.rule) || a.host.localeCompare(b.host);
  return {
    alerts: (await store.listAlerts()).sort(order((a) => a.startsAt)),
    heals: (await store.listHeals()).sort(order((h) => h.createdAt)),
    notifications: notifications.map((n) => ({
      at: n.at,
      receiver: n.receiver,
      status: n.status,
      alertname: n.alerts[0]?.labels.alertname,
      host: n.alerts[0]?.host,
      rule: n.alerts[0]?.rule,
    })),
    short: (await metrics.rulesNotEnoughData.get()).values.filter((v) => v.value > 0).map((v) => ({ rule: String(v.labels.rule), samples: v.value })),
  };
}

/** From `from` to `to` every `every` (at most 100,000 times). */
function range(from: number, to: number, every: number): number[] {
  const out: number[] = [];
  for (let t = from; t <= to && out.length < 100_000; t += every) out.push(t);
  return out;
}

/** Facts merge one level deep (a check or a mount at a time); a key given as null is gone from then on. */
function mergeFacts(current: Record<string, unknown>, next: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...current };
  for (const [k, v] of Object.entries(next)) {
    if (v === null) {
      delete out[k];
      continue;
    }
    if (!(v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object')) {
      out[k] = v;
      continue;
    }
    const merged: Record<string, unknown> = { ...(out[k] as Record<string, unknown>), ...v };
    for (const [key, value] of Object.entries(v)) if (value === null) delete merged[key];
    out[k] = merged;
  }
  return out;
}

/** Services given as {up} get `since` filled in: when `up` last changed. */
function withSince(facts: Record<string, unknown>, before: Record<string, unknown>, now: number): Record<string, unknown> {
  const svc = facts.service as Record<string, { up: boolean; since?: number }> | undefined;
  if (!svc) return facts;
  const prev = (before.service ?? {}) as Record<string, { up: boolean; since: number }>;
  const service = Object.fromEntries(
    Object.entries(svc).map(([name, s]) => [name, { ...s, since: s.since ?? (prev[name]?.up === s.up ? prev[name].since : now) }]),
  );
  return { ...facts, service };
}
