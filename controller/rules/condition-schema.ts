import { z } from 'zod';
import { tidy } from '../../protocol/zod.js';
import { leaf } from './leaf.js';

export type Condition = { all: Condition[] } | { any: Condition[] } | { not: Condition } | z.infer<typeof leaf>;

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
    if (keys.length > 1)
      return fail(
        `a "${group}" group takes no other fields (found ${keys
          .filter((k) => k !== group)
          .map((k) => JSON.stringify(k))
          .join(', ')})`,
      );
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
      const message =
        issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} in a condition` : tidy(issue.message);
      ctx.addIssue({ code: 'custom', path: [...path, ...(issue.path as (string | number)[])], message });
    }
  }
}

export const when = z
  .custom<{ all: Condition[] } | { any: Condition[] } | { not: Condition }>(() => true)
  .superRefine((w, ctx) => checkCondition(w, [], ctx, true));
