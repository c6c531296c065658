import { RE2JS } from 're2js';
import { z } from 'zod';

/** One label matcher: name=value, name!=value, name=~regex, name!~regex (anchored, like Alertmanager). */
export interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual: boolean;
}

/** Bounds on a matcher from the API or a file: a regex this long still compiles in milliseconds. */
export const MATCHER_LIMITS = { name: 256, value: 4096 } as const;

// The value takes everything after the operator ([\s\S]*, never failing), so no input backtracks.
const MATCHER = /^([A-Za-z_][\w.-]*)\s*(=~|!~|!=|=)\s*([\s\S]*)$/;

/**
 * Why `value` is not a regex a matcher can use, or undefined. RE2 syntax (re2js), the engine
 * Alertmanager uses too: it matches in time linear in the input, so no pattern can backtrack
 * without bound (`(a+)+$` is fine); what RE2 lacks (backreferences, lookaround) is refused here.
 */
export function regexProblem(value: string): string | undefined {
  if (value.length > MATCHER_LIMITS.value) return `regex longer than ${MATCHER_LIMITS.value} characters`;
  try {
    RE2JS.compile(value);
    return undefined;
  } catch (e) {
    return `invalid regular expression (RE2 syntax, as in Alertmanager): ${(e as Error).message.replace(/^error parsing regexp: /, '')}`;
  }
}

/** Parses "host=web-1", "alertname=~disk.*", "env!=prod". */
export function parseMatcher(text: string): Matcher | string {
  const shown = text.length > 80 ? `${JSON.stringify(text.slice(0, 80))}…` : JSON.stringify(text);
  const m = MATCHER.exec(text.trim());
  if (!m) return `bad matcher ${shown}: expected name=value, name!=value, name=~regex or name!~regex`;
  const [, name, op, raw] = m;
  if (name.length > MATCHER_LIMITS.name) return `bad matcher ${shown}: label name longer than ${MATCHER_LIMITS.name} characters`;
  const value = raw.replace(/^"(.*)"$/, '$1');
  const isRegex = op === '=~' || op === '!~';
  if (isRegex) {
    const problem = regexProblem(value);
    if (problem) return `bad regex in matcher ${shown}: ${problem}`;
  } else if (value.length > MATCHER_LIMITS.value) {
    return `bad matcher ${shown}: value longer than ${MATCHER_LIMITS.value} characters`;
  }
  return { name, value, isRegex, isEqual: op === '=' || op === '=~' };
}

const matcherObject = z.strictObject({
  name: z.string().min(1).max(MATCHER_LIMITS.name),
  value: z.string().max(MATCHER_LIMITS.value),
  isRegex: z.boolean().default(false),
  isEqual: z.boolean().default(true),
});

/**
 * A matcher as a string ("host=web-1") or an object ({name, value, isRegex, isEqual}); a regex
 * is compiled here, so a bad one is refused at its own pointer (`/matchers/2/value`).
 */
export const matcherSchema = z
  .union([z.string().max(MATCHER_LIMITS.name + MATCHER_LIMITS.value + 8), matcherObject], {
    error: 'expected a matcher: a string like "host=web-1" or "alertname=~disk.*", or {"name", "value", "isRegex", "isEqual"}',
  })
  .transform((m, ctx): Matcher => {
    if (typeof m === 'string') {
      const parsed = parseMatcher(m);
      if (typeof parsed === 'string') {
        ctx.addIssue({ code: 'custom', message: parsed });
        return z.NEVER;
      }
      return parsed;
    }
    const problem = m.isRegex ? regexProblem(m.value) : undefined;
    if (problem) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: problem });
      return z.NEVER;
    }
    return m;
  });

/** Each matcher's test, made once: compiling a regex costs ~100× matching with it. */
const compiled = new WeakMap<Matcher, ((v: string) => boolean) | null>();

/** The matcher's test, or null when its regex does not compile (only unchecked data has one). */
function tester(m: Matcher): ((v: string) => boolean) | null {
  const known = compiled.get(m);
  if (known !== undefined) return known;
  let t: ((v: string) => boolean) | null;
  if (!m.isRegex) {
    const want = m.value;
    t = (v) => v === want;
  } else {
    // testExact: the whole value must match, as Alertmanager's ^(?:regex)$.
    try {
      const re = RE2JS.compile(m.value);
      t = (v) => re.testExact(v);
    } catch {
      t = null;
    }
  }
  compiled.set(m, t);
  return t;
}

/**
 * True when every matcher holds for these labels; a missing label reads as "". Never throws:
 * a matcher whose regex does not compile fails the whole set (closed: nothing is muted by it).
 */
export function matches(matchers: readonly Matcher[], labels: Readonly<Record<string, string>>): boolean {
  return matchers.every((m) => {
    const t = tester(m);
    return t !== null && t(labels[m.name] ?? '') === m.isEqual;
  });
}

export function formatMatcher(m: Matcher): string {
  return `${m.name}${m.isEqual ? (m.isRegex ? '=~' : '=') : m.isRegex ? '!~' : '!='}${m.value}`;
}
