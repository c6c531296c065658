import cron from 'node-cron';
import { z } from 'zod';
import { ACTIONS, check, isActionName } from '../../protocol/index.js';
import { zDuration } from '../../protocol/zod.js';
import { when } from './condition-schema.js';
import { fleetSchema } from './fleet-schema.js';
import { checkSummary } from './template.js';

export type { Condition } from './condition-schema.js';
export { FACTS, OPERATORS } from './leaf.js';

/** Checks one step's action and params against the catalogue; the rule keeps its params as written. */
function checkStep(step: { action: string; params: Record<string, unknown> }, path: (string | number)[], ctx: z.RefinementCtx): void {
  if (!isActionName(step.action)) {
    ctx.addIssue({
      code: 'custom',
      path: [...path, 'action'],
      message: `unknown action ${JSON.stringify(step.action)} (known: ${Object.keys(ACTIONS).join(', ')})`,
    });
    return;
  }
  const parsed = check(ACTIONS[step.action].params, step.params);
  if (!parsed.ok) {
    for (const issue of parsed.issues) {
      const message = issue.unknownKeys
        ? `unknown parameter ${issue.unknownKeys.map((k) => JSON.stringify(k)).join(', ')} for ${step.action}`
        : `${step.action}: ${issue.message}`;
      ctx.addIssue({ code: 'custom', path: [...path, 'params', ...(issue.path as (string | number)[])], message });
    }
  }
}

const params = z.record(z.string(), z.unknown()).default({});
const step = z.strictObject({ action: z.string(), params, timeout: zDuration.optional() });

/** A count of hosts, or a share of the hosts the rule selects ("20%"). */
const hostLimit = z.union([
  z.number().int().min(1),
  z.string().regex(/^(100|[1-9]?\d)(\.\d+)?%$/, 'expected a whole number of hosts or a percentage like "20%"'),
]);

const heal = z
  .strictObject({
    /** The single-action form; `steps` is the ladder form. Exactly one of the two. */
    action: z.string().optional(),
    params: z.record(z.string(), z.unknown()).optional(),
    steps: z.array(step).min(1).max(10).optional(),
    /** How long the rule's condition may still hold after a step before the next step runs. */
    verifyWithin: zDuration.default(30_000),
    /** Per step, unless the step sets its own; default: the action's own timeout. */
    timeout: zDuration.optional(),
    maxPerHour: z.number().int().min(0).default(3),
    /** Least time between two heals of this rule on one host. */
    cooldown: zDuration.default(0),
    /** Hosts this rule may heal at once, fleet-wide (at least one when a percentage rounds to 0). */
    maxConcurrent: hostLimit.default('25%'),
    approval: z.enum(['none', 'required']).default('none'),
    approvalTimeout: zDuration.default(3_600_000),
    breaker: z
      .strictObject({
        /** Failed work orders on one host within `window` that open the breaker. */
        failures: z.number().int().min(1).default(3),
        window: zDuration.default(3_600_000),
        /** An open breaker closes after the rule has been healthy on the host this long. */
        resetAfter: zDuration.default(1_800_000),
      })
      .prefault({}),
  })
  .superRefine((h, ctx) => {
    if ((h.action === undefined) === (h.steps === undefined)) {
      ctx.addIssue({ code: 'custom', path: [], message: 'give either "action" (with "params") or "steps", not both and not neither' });
      return;
    }
    if (h.params !== undefined && h.action === undefined)
      ctx.addIssue({ code: 'custom', path: ['params'], message: '"params" goes with "action"; with "steps" each step has its own' });
    if (h.action !== undefined) checkStep({ action: h.action, params: h.params ?? {} }, [], ctx);
    h.steps?.forEach((s, i) => checkStep(s, ['steps', i], ctx));
  })
  .transform(({ action, params: p, steps, ...rest }) => ({
    ...rest,
    steps: steps ?? [{ action: action!, params: p ?? {} }],
  }));

export type HealSpec = z.output<typeof heal>;

const schedule = z.string().superRefine((expr, ctx) => {
  const v = cron.validateDetailed(expr);
  if (!v.valid)
    ctx.addIssue({ code: 'custom', message: `bad cron expression ${JSON.stringify(expr)}: ${v.errors.map((e) => e.message).join('; ') || 'invalid'}` });
});

export const ruleSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'a rule name is 1–100 letters, digits, "-", "_" or "." and starts with a letter or digit'),
    description: z.string().max(2000).default(''),
    /** Absent selects every host; an empty object is refused as ambiguous (never "all" by accident). */
    hosts: z
      .record(z.string(), z.string())
      .refine((h) => Object.keys(h).length > 0, 'an empty host selector is ambiguous: omit "hosts" to select every host, or name labels')
      .optional(),
    /** Required unless the rule runs on a `schedule`. */
    when: when.optional(),
    for: zDuration.default(0),
    /** After the condition clears, keep the alert firing this long; a fault back within it is the same incident. */
    keepFiringFor: zDuration.default(0),
    /** Flap damping: this many condition changes within the window mark the alert flapping and hold it firing until calm. */
    flap: z
      .strictObject({ window: zDuration.default(600_000), changes: z.number().int().min(2).default(10) })
      .prefault({})
      .transform((f) => ({ windowMs: f.window, changes: f.changes })),
    /** hosts: judged on each host's samples; controller: on the controller's own health (the `controller` fact, controller/self-rules.ts). */
    scope: z.enum(['hosts', 'controller']).default('hosts'),
    /** A fleet condition: the hosts the rule selects judged as a whole (controller/rules/fleet.ts). */
    fleet: fleetSchema.optional(),
    /** Run the heal steps on a timetable (cron) for the hosts the rule selects, under the same brakes. */
    schedule: schedule.optional(),
    /** shadow: alert, and record what would have run, without running it. Default: the namespace's mode. */
    mode: z.enum(['enforce', 'shadow']).optional(),
    severity: z.enum(['critical', 'warning', 'info']).default('warning'),
    /** Placeholders: see rules/template.ts; a bad one fails the rule file at load. */
    summary: z
      .string()
      .max(500)
      .superRefine((t, ctx) => {
        for (const message of checkSummary(t)) ctx.addIssue({ code: 'custom', message });
      })
      .optional(),
    labels: z.record(z.string(), z.string()).default({}),
    heal: heal.optional(),
    notify: z.array(z.string().min(1)).default([]),
    /**
     * Parent rules: while a parent's alert fires on a host with the same `equal` labels (default:
     * the same host), this rule's alerts are not paged and its heals wait.
     */
    dependsOn: z
      .array(
        z.union([
          z
            .string()
            .min(1)
            .transform((rule) => ({ rule, equal: ['host'] })),
          z.strictObject({ rule: z.string().min(1), equal: z.array(z.string().min(1)).default(['host']) }),
        ]),
      )
      .optional(),
  })
  .superRefine((r, ctx) => {
    const kinds = [r.when && 'when', r.fleet && 'fleet', r.schedule !== undefined && 'schedule'].filter(Boolean);
    if (kinds.length === 0)
      ctx.addIssue({ code: 'custom', path: ['when'], message: 'required: a rule needs "when" (per host), "fleet" (the hosts as a whole) or a "schedule"' });
    if (kinds.length > 1)
      ctx.addIssue({ code: 'custom', path: [kinds[1] as string], message: `a rule has one of "when", "fleet" or "schedule", not ${kinds.join(' and ')}` });
    // The `controller` fact exists only for controller rules, and they see no host's facts.
    for (const { fact, path } of factsRead(r.when, ['when']))
      if ((fact === 'controller') !== (r.scope === 'controller') && !(r.scope === 'controller' && fact === 'host'))
        ctx.addIssue({
          code: 'custom',
          path,
          message:
            r.scope === 'controller'
              ? `a rule with "scope": "controller" sees only the "controller" fact, not "${fact}"`
              : 'the "controller" fact is the controller\'s own health: use it in a rule with "scope": "controller"',
        });
    if (r.scope === 'controller')
      for (const key of ['hosts', 'fleet', 'schedule', 'heal'] as const)
        if (r[key] !== undefined)
          ctx.addIssue({ code: 'custom', path: [key], message: `a rule with "scope": "controller" judges the controller itself: it takes no "${key}"` });
    if (r.schedule !== undefined && r.heal === undefined)
      ctx.addIssue({ code: 'custom', path: ['schedule'], message: 'a scheduled rule needs "heal" steps to run' });
  });

/** The facts a rule reads (its `when`, or its fleet condition). */
export function factsReadBy(rule: Pick<Rule, 'when' | 'fleet'>): string[] {
  return [...new Set([...factsRead(rule.when, []), ...factsRead(rule.fleet, [])].map((f) => f.fact))];
}

/** Every `fact` a condition tree names, with the JSON path to it (fact-vs-fact values included). */
function factsRead(node: unknown, path: (string | number)[]): { fact: string; path: (string | number)[] }[] {
  if (Array.isArray(node)) return node.flatMap((n, i) => factsRead(n, [...path, i]));
  if (node === null || typeof node !== 'object') return [];
  const o = node as Record<string, unknown>;
  const own = typeof o.fact === 'string' ? [{ fact: o.fact, path: [...path, 'fact'] }] : [];
  return [...own, ...Object.entries(o).flatMap(([k, v]) => (k === 'fact' ? [] : factsRead(v, [...path, k])))];
}

/** rules/<namespace>/_namespace.json: settings for every rule of the namespace. */
export const namespaceSchema = z.strictObject({
  mode: z.enum(['enforce', 'shadow']).default('enforce'),
  description: z.string().max(2000).optional(),
});
export const NAMESPACE_FILE = '_namespace.json';

export type RuleFile = z.output<typeof ruleSchema>;

/** A loaded rule: the file's content plus where it came from. */
export interface Rule extends RuleFile {
  /** "<namespace>/<name>", unique in the rule set. */
  id: string;
  namespace: string;
  file: string;
  /** The rule's mode, or its namespace's when the rule sets none. */
  effectiveMode: 'enforce' | 'shadow';
}
