import { z } from 'zod';
import { ACTIONS, durationSchema, isActionName, tidy } from '../../protocol/index.js';
import { parsePath } from './path.js';

/** The facts a sample provides (DESIGN.md "Facts seen by rules"). */
export const FACTS = ['cpu', 'memory', 'disk', 'net', 'service', 'host'] as const;
/** json-rules-engine's built-in operators. */
export const OPERATORS = ['equal', 'notEqual', 'lessThan', 'lessThanInclusive', 'greaterThan', 'greaterThanInclusive', 'in', 'notIn', 'contains', 'doesNotContain'] as const;

const leaf = z.strictObject({
  fact: z.string().superRefine((f, ctx) => {
    if (!(FACTS as readonly string[]).includes(f)) ctx.addIssue({ code: 'custom', message: `unknown fact ${JSON.stringify(f)} (known: ${FACTS.join(', ')})` });
  }),
  operator: z.string().superRefine((o, ctx) => {
    if (!(OPERATORS as readonly string[]).includes(o)) ctx.addIssue({ code: 'custom', message: `unknown operator ${JSON.stringify(o)} (known: ${OPERATORS.join(', ')})` });
  }),
  value: z.unknown().refine((v) => v !== undefined, 'a condition needs a "value"'),
  path: z.string().superRefine((p, ctx) => {
    const parsed = parsePath(p);
    if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: `bad path ${JSON.stringify(p)}: ${parsed}` });
  }).optional(),
  params: z.record(z.string(), z.unknown()).optional(),
});

export type Condition =
  | { all: Condition[] } | { any: Condition[] } | { not: Condition }
  | z.infer<typeof leaf>;

/**
 * Checks a condition tree by hand rather than with a zod union, so an error points at the
 * exact leaf and field (a union would only say "no branch matched").
 */
function checkCondition(value: unknown, path: (string | number)[], ctx: z.RefinementCtx, top: boolean): void {
  const fail = (message: string, at = path) => ctx.addIssue({ code: 'custom', path: at, message });
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(top ? 'expected {"all": […]}, {"any": […]} or {"not": …}' : 'expected a condition object');
  }
  const keys = Object.keys(value);
  const group = keys.find((k) => k === 'all' || k === 'any' || k === 'not');
  if (group) {
    if (keys.length > 1) return fail(`a "${group}" group takes no other fields (found ${keys.filter((k) => k !== group).map((k) => JSON.stringify(k)).join(', ')})`);
    const inner = (value as Record<string, unknown>)[group];
    if (group === 'not') return checkCondition(inner, [...path, 'not'], ctx, false);
    if (!Array.isArray(inner) || inner.length === 0) return fail(`"${group}" must be a non-empty array of conditions`, [...path, group]);
    inner.forEach((c, i) => checkCondition(c, [...path, group, i], ctx, false));
    return;
  }
  if (top) return fail('the top of "when" must be {"all": […]}, {"any": […]} or {"not": …}');
  const parsed = leaf.safeParse(value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const message = issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} in a condition` : tidy(issue.message);
      ctx.addIssue({ code: 'custom', path: [...path, ...(issue.path as (string | number)[])], message });
    }
  }
}

const when = z.custom<{ all: Condition[] } | { any: Condition[] } | { not: Condition }>(() => true)
  .superRefine((w, ctx) => checkCondition(w, [], ctx, true));

const heal = z.strictObject({
  action: z.string(),
  params: z.record(z.string(), z.unknown()).default({}),
  maxPerHour: z.number().int().min(0).default(3),
  timeout: durationSchema.optional(),
}).superRefine((h, ctx) => {
  if (!isActionName(h.action)) {
    ctx.addIssue({ code: 'custom', path: ['action'], message: `unknown action ${JSON.stringify(h.action)} (known: ${Object.keys(ACTIONS).join(', ')})` });
    return;
  }
  const parsed = ACTIONS[h.action].params.safeParse(h.params);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const message = issue.code === 'unrecognized_keys' ? `unknown parameter ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} for ${h.action}` : `${h.action}: ${tidy(issue.message)}`;
      ctx.addIssue({ code: 'custom', path: ['params', ...issue.path], message });
    }
  }
});

export const ruleSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'a rule name is 1–100 letters, digits, "-", "_" or "." and starts with a letter or digit'),
  description: z.string().max(2000).default(''),
  /** Absent selects every host; an empty object is refused as ambiguous (never "all" by accident). */
  hosts: z.record(z.string(), z.string()).refine((h) => Object.keys(h).length > 0, 'an empty host selector is ambiguous: omit "hosts" to select every host, or name labels').optional(),
  when,
  for: durationSchema.default(0),
  severity: z.enum(['critical', 'warning', 'info']).default('warning'),
  summary: z.string().max(500).optional(),
  labels: z.record(z.string(), z.string()).default({}),
  heal: heal.optional(),
  notify: z.array(z.string().min(1)).default([]),
});

export type RuleFile = z.output<typeof ruleSchema>;

/** A loaded rule: the file's content plus where it came from. */
export interface Rule extends RuleFile {
  /** "<namespace>/<name>", unique in the rule set. */
  id: string;
  namespace: string;
  file: string;
}
