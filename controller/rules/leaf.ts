import { z } from 'zod';
import { FACT_NAMES, formatDuration, parseDuration } from '../../protocol/index.js';
import { kindAt } from './fact-types.js';
import { hasWildcard, parsePath } from './path.js';
import { WINDOW_FNS } from './windows/functions.js';

/** The facts a sample provides (DESIGN.md "Facts seen by rules"). */
export const FACTS = [...FACT_NAMES, 'host', 'controller'] as const;
/** json-rules-engine's built-in operators. */
export const OPERATORS = [
  'equal',
  'notEqual',
  'lessThan',
  'lessThanInclusive',
  'greaterThan',
  'greaterThanInclusive',
  'in',
  'notIn',
  'contains',
  'doesNotContain',
] as const;

/** The longest window: the controller keeps windows in memory (10,000 points a series). */
export const MAX_WINDOW_MS = 24 * 3600_000;
const MIN_WINDOW_MS = 1000;
const COMPARISONS = ['equal', 'notEqual', 'lessThan', 'lessThanInclusive', 'greaterThan', 'greaterThanInclusive'];
/** Functions that read the values themselves: they need numbers (or booleans, as 1/0). */
const NUMERIC_FNS = new Set(['avg', 'min', 'max', 'sum', 'last', 'delta', 'rate', 'changes', 'predict', 'quantile']);

const windowDuration = (what: string) =>
  z.string().superRefine((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) ctx.addIssue({ code: 'custom', message: `${what}: expected a duration like "10m", "1h" or "4h", got ${JSON.stringify(text)}` });
  });

/** One condition: a fact, optionally a path into it, an operator and a value; optionally over a window. */
const leafShape = z.strictObject({
  fact: z.string().superRefine((f, ctx) => {
    if (!(FACTS as readonly string[]).includes(f)) ctx.addIssue({ code: 'custom', message: `unknown fact ${JSON.stringify(f)} (known: ${FACTS.join(', ')})` });
  }),
  operator: z.string().superRefine((o, ctx) => {
    if (!(OPERATORS as readonly string[]).includes(o))
      ctx.addIssue({ code: 'custom', message: `unknown operator ${JSON.stringify(o)} (known: ${OPERATORS.join(', ')})` });
  }),
  value: z.unknown().refine((v) => v !== undefined, 'a condition needs a "value"'),
  path: z
    .string()
    .superRefine((p, ctx) => {
      const parsed = parsePath(p);
      if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: `bad path ${JSON.stringify(p)}: ${parsed}` });
    })
    .optional(),
  params: z.record(z.string(), z.unknown()).optional(),
  /** A window: the function `fn` of the path's values over the last `over`. */
  over: windowDuration('"over"').optional(),
  fn: z.string().optional(),
  /** predict: how far ahead. */
  ahead: windowDuration('"ahead"').optional(),
  /** quantile: which, 0..1. */
  q: z.number().optional(),
});

export const leaf = leafShape.superRefine((l, ctx) => {
  const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  const tokens = l.path === undefined ? [] : parsePath(l.path);
  if (typeof tokens === 'string') return;
  const refersToFact = typeof l.value === 'object' && l.value !== null && Object.hasOwn(l.value, 'fact');
  if (hasWildcard(tokens) && refersToFact) issue('value', 'a wildcard path ("*") compares every key with a constant value, not with another fact');
  const kind = kindAt(l.fact, tokens);
  if (kind === 'missing')
    issue('path', `the ${l.fact} fact has nothing at ${JSON.stringify(l.path ?? '$')}: the rule could never match (fields: docs/facts.md)`);
  checkWindow(l, kind, refersToFact, issue);
});

function checkWindow(l: z.infer<typeof leafShape>, kind: string, refersToFact: boolean, issue: (path: string, message: string) => void): void {
  if (l.over === undefined && l.fn === undefined) {
    if (l.ahead !== undefined) issue('ahead', '"ahead" belongs to a window with "fn": "predict"');
    if (l.q !== undefined) issue('q', '"q" belongs to a window with "fn": "quantile"');
    return;
  }
  if (l.over === undefined) return issue('over', `a window needs "over" (a duration like "10m") beside "fn"`);
  if (l.fn === undefined) return issue('fn', `a window needs "fn" (one of ${WINDOW_FNS.join(', ')}) beside "over"`);
  if (!(WINDOW_FNS as readonly string[]).includes(l.fn))
    return issue('fn', `unknown window function ${JSON.stringify(l.fn)} (known: ${WINDOW_FNS.join(', ')})`);
  const over = parseDuration(l.over);
  if (over !== undefined && (over < MIN_WINDOW_MS || over > MAX_WINDOW_MS))
    issue('over', `a window is ${formatDuration(MIN_WINDOW_MS)} to ${formatDuration(MAX_WINDOW_MS)} (the controller keeps windows in memory), got ${l.over}`);
  if (l.fn === 'predict' && l.ahead === undefined) issue('ahead', '"fn": "predict" needs "ahead", how far to look (e.g. "4h")');
  if (l.fn !== 'predict' && l.ahead !== undefined) issue('ahead', '"ahead" belongs to "fn": "predict"');
  if (l.fn === 'quantile' && (l.q === undefined || l.q < 0 || l.q > 1)) issue('q', '"fn": "quantile" needs "q" between 0 and 1 (0.95 is the 95th percentile)');
  if (l.fn !== 'quantile' && l.q !== undefined) issue('q', '"q" belongs to "fn": "quantile"');
  if (refersToFact) issue('value', 'a window compares its result with a constant value, not with another fact');
  if (!COMPARISONS.includes(l.operator)) issue('operator', `a window gives one value: compare it with ${COMPARISONS.join(', ')}`);
  if (l.fn === 'absent') {
    if (typeof l.value !== 'boolean') issue('value', '"fn": "absent" gives true or false: compare it with "equal" true (or false)');
  } else {
    if (typeof l.value !== 'number') issue('value', `"fn": ${JSON.stringify(l.fn)} gives a number: compare it with a number`);
    if (NUMERIC_FNS.has(l.fn) && kind !== 'number' && kind !== 'boolean' && kind !== 'unknown' && kind !== 'missing')
      issue('path', `"fn": ${JSON.stringify(l.fn)} needs numbers, and ${JSON.stringify(l.path ?? '$')} of ${l.fact} is a ${kind}`);
  }
}
