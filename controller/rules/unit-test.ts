import { dirname, join, resolve } from 'node:path';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { LAAS_VERSION, parseJsonText, silentLogger, type Result, type Run, type Sample } from '../../protocol/index.js';
import { zDuration, zodIssues } from '../../protocol/zod.js';
import { SimClock } from '../clock.js';
import { createMetrics } from '../metrics.js';
import type { Notification } from '../notify/index.js';
import { Core } from '../core.js';
import { quietController, type ControllerFacts } from '../self-facts.js';
import { CONTROLLER_HOST } from '../self-rules.js';
import { MemoryStore } from '../store/memory.js';
import { formatRuleError, loadRules } from './load.js';

/**
 * `laas rules test`: a rule unit test replays a timeline of samples through the controller's
 * own decision code (the Core) on a simulated clock, with simulated agents that answer
 * instructions as the test says, and compares the alerts, work orders and notifications that
 * come out with the expected ones — in the spirit of `promtool test rules`.
 */
const outcome = z.enum(['succeeded', 'failed', 'refused', 'timed-out']);
const testSchema = z.strictObject({
  description: z.string().optional(),
  /** Rule files or folders, relative to the test file; default: the test file's folder. */
  rules: z.array(z.string()).min(1).optional(),
  /** Host id → labels, or → {"labels": {…}, "agentVersion": "0.0.9"} (default: this release's agent). */
  hosts: z
    .record(
      z.string(),
      z.union([
        z.strictObject({ labels: z.record(z.string(), z.string()).default({}), agentVersion: z.string().min(1).max(50).default(LAAS_VERSION) }),
        z.record(z.string(), z.string()).transform((labels) => ({ labels, agentVersion: LAAS_VERSION })),
      ]),
    )
    .refine((h) => Object.keys(h).length > 0, 'name at least one host'),
  interval: zDuration.default(10_000),
  timeline: z
    .array(
      z.strictObject({
        at: zDuration,
        host: z.string(),
        /** Facts to merge into the host's current facts, one level deep; null removes a fact or a key (a check gone). */
        facts: z.record(z.string(), z.unknown()).default({}),
        /** Repeat the change at this period until `until`. */
        every: zDuration.optional(),
        until: zDuration.optional(),
        /** From now on the host's agent sends nothing (to test host-down). */
        silent: z.boolean().optional(),
      }),
    )
    .min(1),
  /** What the simulated agents answer, per action: one outcome, or one per call in turn. */
  agent: z
    .strictObject({
      results: z.record(z.string(), z.union([outcome, z.array(outcome).min(1)])).default({}),
      resultAfter: zDuration.default(1000),
    })
    .prefault({}),
  /** Approve or reject work orders that wait for a person, at a time. */
  decisions: z.array(z.strictObject({ at: zDuration, decision: z.enum(['approve', 'reject']), rule: z.string(), host: z.string() })).default([]),
  /** How long to run; default one minute after the last sample. */
  end: zDuration.optional(),
  /** Expected items, in time order (ties by rule, then host); every field given must match. */
  expect: z.strictObject({
    alerts: z.array(z.record(z.string(), z.unknown())).optional(),
    heals: z.array(z.record(z.string(), z.unknown())).optional(),
    notifications: z.array(z.record(z.string(), z.unknown())).optional(),
    /** Rules that judged some sample without enough data in a window (not yet full, too few points). */
    notEnoughData: z.array(z.string()).optional(),
  }),
});
type RuleTest = z.output<typeof testSchema>;

export interface TestOutcome {
  file: string;
  ok: boolean;
  failures: string[];
  summary: string;
}

const T0 = Date.parse('2026-01-01T00:00:00Z');

export async function runRuleTest(file: string): Promise<TestOutcome> {
  const fail = (failures: string[]): TestOutcome => ({ file, ok: false, failures, summary: '' });
  let test: RuleTest;
  try {
    const doc = parseJsonText(readFileSync(file, 'utf8'), file, 'RULE_NOT_JSON');
    const parsed = testSchema.safeParse(doc);
    if (!parsed.success) return fail(zodIssues(parsed.error).map((i) => `${file} ${i.pointer}: ${i.message}`));
    test = parsed.data;
  } catch (e) {
    return fail([(e as Error).message]);
  }
  // By default the whole rules tree the test sits in (its namespace folder's parent), so rule
  // ids read "<namespace>/<name>" exactly as the controller names them.
  const paths = (test.rules ?? ['..']).map((p) => resolve(dirname(file), p));
  const loaded = loadRules(paths);
  if (loaded.errors.length) return fail(loaded.errors.map(formatRuleError));
  for (const [i, e] of test.timeline.entries()) {
    if (e.host === CONTROLLER_HOST) {
      if (Object.keys(e.facts).some((k) => k !== 'controller') || e.silent)
        return fail([`${file} /timeline/${i}/facts: host "${CONTROLLER_HOST}" takes only the "controller" fact (rules with "scope": "controller")`]);
    } else if (!test.hosts[e.host])
      return fail([`${file} /timeline/${i}/host: unknown host "${e.host}" (the test names: ${Object.keys(test.hosts).join(', ')}, or "${CONTROLLER_HOST}")`]);
  }

  const clock = new SimClock(T0);
  const settle = () => new Promise<void>((r) => setImmediate(r));
  const notifications: (Notification & { at: string })[] = [];
  const facts = new Map<string, Record<string, unknown>>();
  const answers = new Map<string, number>();
  let seq = 0;
  // eslint-disable-next-line prefer-const -- assigned once below, after the callbacks that read it
  let core!: Core;
  const sampleOf = (host: string, trigger: Sample['trigger']): Sample => ({ seq: seq++, ts: clock.now(), trigger, ...(facts.get(host) ?? {}) });
  const agentAnswer = (host: string, run: Run) => {
    const spec = test.agent.results[run.action] ?? 'succeeded';
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
      durationMs: test.agent.resultAfter,
    };
    void core.ack(host, run.id);
    clock.after(test.agent.resultAfter, () => void core.result(host, result));
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
    hostDownAfterMs: 30_000,
    externalUrl: () => 'http://laas.test',
    // A healthy controller, changed by the timeline's entries for host "controller".
    controllerFacts: () => (facts.get(CONTROLLER_HOST)?.controller ?? quietController(Object.keys(test.hosts).length)) as ControllerFacts,
  });
  facts.set(CONTROLLER_HOST, { controller: quietController(Object.keys(test.hosts).length) });
  core.setRules(loaded.rules);
  for (const [id, { labels, agentVersion }] of Object.entries(test.hosts)) {
    await core.hello({
      agentId: id,
      agentVersion,
      hostname: id,
      labels,
      os: { platform: 'linux', release: 'test' },
      intervalMs: test.interval,
      services: [],
      actions: [],
      scripts: [],
    });
  }

  // Every sample and decision becomes a timer on the simulated clock, then time runs.
  let last = 0;
  const silent = new Set<string>();
  for (const e of test.timeline) {
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
  for (const d of test.decisions) {
    clock.after(d.at, () => {
      const order = core.heal.openOrders().find((o) => o.rule === d.rule && o.host === d.host && o.state === 'awaiting-approval');
      if (order) void (d.decision === 'approve' ? core.heal.approve(order.id, 'rules-test') : core.heal.reject(order.id, 'rules-test'));
    });
  }
  const end = test.end ?? last + 60_000;
  // Simulated agents report their current facts every interval until they fall silent.
  for (let t = test.interval; t <= end; t += test.interval) {
    clock.after(t, () => {
      for (const host of Object.keys(test.hosts)) if (!silent.has(host)) void core.sample(host, sampleOf(host, 'interval'));
    });
  }
  for (let t = 1000; t <= end; t += 1000) clock.after(t, () => void core.sweep());
  await clock.advanceTo(T0 + end, settle);

  // In time order; ties by rule then host, so a test's expected order is stable.
  const order =
    <T extends { rule: string; host: string }>(at: (x: T) => string) =>
    (a: T, b: T) =>
      at(a).localeCompare(at(b)) || a.rule.localeCompare(b.rule) || a.host.localeCompare(b.host);
  const alerts = (await store.listAlerts()).sort(order((a) => a.startsAt));
  const heals = (await store.listHeals()).sort(order((h) => h.createdAt));
  const sent = notifications.map((n) => ({
    at: n.at,
    receiver: n.receiver,
    status: n.status,
    alertname: n.alerts[0]?.labels.alertname,
    host: n.alerts[0]?.host,
    rule: n.alerts[0]?.rule,
  }));
  const failures = [
    ...compare(
      'alerts',
      test.expect.alerts,
      alerts.map((a) => ({ ...a })),
    ),
    // A work order's steps are compared as the actions that were tried, in order.
    ...compare(
      'heals',
      test.expect.heals,
      heals.map((h) => ({ ...h, steps: h.steps.filter((s) => s.state !== 'pending').map((s) => s.action) })),
    ),
    ...compare('notifications', test.expect.notifications, sent),
  ];
  const short = (await metrics.rulesNotEnoughData.get()).values.filter((v) => v.value > 0).map((v) => ({ rule: String(v.labels.rule), samples: v.value }));
  const shortRules = short.map((v) => v.rule).sort();
  if (test.expect.notEnoughData && JSON.stringify([...test.expect.notEnoughData].sort()) !== JSON.stringify(shortRules))
    failures.push(`notEnoughData: expected ${JSON.stringify([...test.expect.notEnoughData].sort())}, got ${JSON.stringify(shortRules)}`);
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  return {
    file,
    ok: failures.length === 0,
    failures,
    summary:
      `${plural(alerts.length, 'alert')}, ${plural(heals.length, 'work order')}, ${plural(sent.length, 'notification')}` +
      (short.length ? `; not enough data: ${short.map((v) => `${v.rule} on ${plural(v.samples, 'sample')}`).join(', ')}` : ''),
  };
}

/**
 * Expected items are matched in order against the actual ones: the counts must agree, and each
 * field given must match (strings in "reason" and "summary" match as substrings).
 */
function compare(kind: string, expected: Record<string, unknown>[] | undefined, actual: Record<string, unknown>[]): string[] {
  if (expected === undefined) return [];
  const out: string[] = [];
  const show = (items: Record<string, unknown>[], keys: string[]) =>
    items.map((a) => JSON.stringify(Object.fromEntries(keys.filter((k) => k in a).map((k) => [k, a[k]])))).join('\n      ');
  const keys = [...new Set(expected.flatMap((e) => Object.keys(e)))];
  if (expected.length !== actual.length) out.push(`${kind}: expected ${expected.length}, got ${actual.length}`);
  expected.forEach((exp, i) => {
    const act = actual[i];
    if (!act) return;
    for (const [k, v] of Object.entries(exp)) {
      const got = act[k];
      const matches =
        (k === 'reason' || k === 'summary') && typeof v === 'string' && typeof got === 'string' ? got.includes(v) : JSON.stringify(got) === JSON.stringify(v);
      if (!matches) out.push(`${kind}[${i}].${k}: expected ${JSON.stringify(v)}, got ${JSON.stringify(got)}`);
    }
  });
  if (out.length) out.push(`  actual ${kind}:\n      ${show(actual, keys) || '(none)'}`);
  return out;
}

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

/** The test files named, and every *.test.json under the folders named. */
export function findRuleTests(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (p: string, depth: number) => {
    const st = statSync(p);
    if (st.isFile()) {
      out.push(p);
      return;
    }
    if (depth > 10) return;
    for (const e of readdirSync(p, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const child = join(p, e.name);
      if (e.isDirectory() && !e.name.startsWith('.')) walk(child, depth + 1);
      else if (e.isFile() && e.name.endsWith('.test.json')) out.push(child);
    }
  };
  for (const p of paths) walk(p, 0);
  return out;
}
