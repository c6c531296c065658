import { dirname, join, resolve } from 'node:path';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { LAAS_VERSION, parseJsonText } from '../../protocol/index.js';
import { zDuration, zodIssues } from '../../protocol/zod.js';
import { CONTROLLER_HOST } from '../self-rules.js';
import { formatRuleError, loadRules } from '../rules/load.js';
import { replay } from './replay.js';

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

  const {
    alerts,
    heals,
    notifications: sent,
    short,
  } = await replay(
    {
      start: T0,
      hosts: test.hosts,
      interval: test.interval,
      timeline: test.timeline,
      decisions: test.decisions,
      ...(test.end !== undefined ? { end: test.end } : {}),
      agent: test.agent,
      intervalSamples: true,
      hostDownAfterMs: 30_000,
    },
    loaded.rules,
  );
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
