import { parseDuration } from '../../protocol/index.js';
import { hasWildcard, parsePath, resolveEach, resolveTokens, type PathTokens } from './path.js';
import { computeWindow, WINDOW_FNS, type WindowFn } from './windows/functions.js';
import type { Windows } from './windows/store.js';

/** What one evaluation knows beyond the facts: whose they are, when, and where windows live. */
export interface EvalContext {
  host: string;
  at: number;
  windows: Windows;
  /** Keys that wildcard conditions matched (none collected under `not`: what they match is fine). */
  matches: Set<string> | undefined;
  /** A windowed condition had less data than it needs: its false means "not enough data". */
  insufficient: boolean;
}

export type Compiled = (facts: Record<string, unknown>, ctx?: EvalContext) => boolean;

/** json-rules-engine's built-in operators, verbatim: a fact failing the validator is false. */
const numeric = (v: unknown) => Number.parseFloat(v as string).toString() !== 'NaN';
const OPS: Record<string, { cb: (a: never, b: never) => boolean; valid?: (v: unknown) => boolean }> = {
  equal: { cb: (a, b) => a === b },
  notEqual: { cb: (a, b) => a !== b },
  in: { cb: (a, b: { indexOf(x: unknown): number }) => b.indexOf(a) > -1 },
  notIn: { cb: (a, b: { indexOf(x: unknown): number }) => b.indexOf(a) === -1 },
  contains: { cb: (a: unknown[], b) => a.indexOf(b) > -1, valid: Array.isArray },
  doesNotContain: { cb: (a: unknown[], b) => a.indexOf(b) === -1, valid: Array.isArray },
  lessThan: { cb: (a, b) => a < b, valid: numeric },
  lessThanInclusive: { cb: (a, b) => a <= b, valid: numeric },
  greaterThan: { cb: (a, b) => a > b, valid: numeric },
  greaterThanInclusive: { cb: (a, b) => a >= b, valid: numeric },
};

/** A windowed condition as written: `over` and `fn` (with `ahead` for predict, `q` for quantile). */
export interface WindowSpec {
  overMs: number;
  fn: WindowFn;
  aheadMs?: number;
  q?: number;
}

/** The window a leaf asks for, or undefined for a plain leaf (the schema has checked the fields). */
export function windowOf(o: Record<string, unknown>): WindowSpec | undefined {
  if (o.over === undefined && o.fn === undefined) return undefined;
  const overMs = typeof o.over === 'string' ? parseDuration(o.over) : undefined;
  const fn = (WINDOW_FNS as readonly unknown[]).includes(o.fn) ? (o.fn as WindowFn) : undefined;
  if (overMs === undefined || fn === undefined) return undefined;
  const aheadMs = typeof o.ahead === 'string' ? parseDuration(o.ahead) : undefined;
  return { overMs, fn, ...(aheadMs !== undefined ? { aheadMs } : {}), ...(typeof o.q === 'number' ? { q: o.q } : {}) };
}

/** The id windows keep a leaf's series under: leaves reading one path share it. */
export const seriesIdOf = (fact: string, path: string | undefined): string => `${fact}\u0000${path ?? '$'}`;

/**
 * A condition tree as a plain function with json-rules-engine's semantics (built-in operators,
 * `path` on constant facts, undefined facts allowed; every branch is evaluated, as the engine
 * does, so an operator that throws throws here too), plus what the engine cannot do: a wildcard
 * path ("any key") and windows over time. Undefined when the tree compares a fact with a fact
 * or names an unknown operator: that rule runs on the engine.
 */
export function compileCondition(c: unknown): Compiled | undefined {
  if (typeof c !== 'object' || c === null) return undefined;
  const o = c as Record<string, unknown>;
  if (Array.isArray(o.all) || Array.isArray(o.any)) {
    const parts = ((o.all ?? o.any) as unknown[]).map(compileCondition);
    if (parts.length === 0 || parts.some((p) => !p)) return undefined;
    const fns = parts as Compiled[];
    return o.all
      ? (f, ctx) => {
          let ok = true;
          for (const fn of fns) if (!fn(f, ctx)) ok = false;
          return ok;
        }
      : (f, ctx) => {
          let ok = false;
          for (const fn of fns) if (fn(f, ctx)) ok = true;
          return ok;
        };
  }
  if (o.not !== undefined) {
    const inner = compileCondition(o.not);
    return (
      inner &&
      ((f, ctx) => {
        const matches = ctx?.matches;
        if (ctx) ctx.matches = undefined;
        const holds = inner(f, ctx);
        if (ctx) ctx.matches = matches;
        return !holds;
      })
    );
  }
  const op = typeof o.operator === 'string' && Object.hasOwn(OPS, o.operator) ? OPS[o.operator] : undefined;
  if (!op || typeof o.fact !== 'string' || 'condition' in o) return undefined;
  const value = o.value;
  if (typeof value === 'object' && value !== null && Object.hasOwn(value, 'fact')) return undefined;
  const fact = o.fact;
  if (o.path !== undefined && typeof o.path !== 'string') return undefined;
  const parsed = o.path ? parsePath(o.path) : undefined;
  const { cb, valid } = op;
  // As the engine's pathResolver: a path that cannot be read (refused at load anyway) reads undefined.
  if (typeof parsed === 'string') return () => (valid ? valid(undefined) : true) && cb(undefined as never, value as never);
  const tokens = parsed;
  const holds = (v: unknown) => (valid ? valid(v) : true) && cb(v as never, value as never);
  const window = windowOf(o);
  if (window) return windowed(fact, o.path, tokens, window, holds);
  // A wildcard path holds when the comparison holds for any key (json-rules-engine has no such path).
  if (tokens !== undefined && hasWildcard(tokens))
    return (f, ctx) => {
      let any = false;
      for (const e of each(f[fact], tokens))
        if (holds(e.value)) {
          any = true;
          ctx?.matches?.add(e.key);
        }
      return any;
    };
  // As the engine's almanac: a path applies to an object fact; any other value is used as is.
  return (f) => {
    const v = f[fact];
    return holds(tokens === undefined || v === null || typeof v !== 'object' ? v : resolveTokens(v, tokens));
  };
}

function each(fact: unknown, tokens: PathTokens | undefined): { key: string; value: unknown }[] {
  if (tokens === undefined) return [{ key: '', value: fact }];
  if (fact === null || typeof fact !== 'object') return hasWildcard(tokens) ? [] : [{ key: '', value: undefined }];
  return resolveEach(fact, tokens);
}

/**
 * A condition on a window: this sample's value goes into the host's series (per key under a
 * wildcard), then the function of each series' window is compared. A series watched for less
 * than the window, or with too few points for the function, is "not enough data": false, and
 * flagged on the context (when the path has had a value at all) so `laas rules test` and
 * /metrics can say so.
 */
function windowed(fact: string, path: string | undefined, tokens: PathTokens | undefined, w: WindowSpec, holds: (v: unknown) => boolean): Compiled {
  const seriesId = seriesIdOf(fact, path);
  const wildcard = tokens !== undefined && hasWildcard(tokens);
  return (f, ctx) => {
    if (!ctx) return false;
    const group = ctx.windows.observe(ctx.host, seriesId, ctx.at, each(f[fact], tokens));
    let any = false;
    for (const [key, series] of group) {
      const full = ctx.at - series.since >= w.overMs;
      const points = series.window(ctx.at - w.overMs);
      let result: number | boolean | undefined;
      if (w.fn === 'absent') result = full ? points.length === 0 : undefined;
      else result = full ? computeWindow(w.fn, points, { at: ctx.at, aheadMs: w.aheadMs, q: w.q }) : undefined;
      if (result === undefined) {
        // A path that never had a value here (a host without the fact) has no data, not too little.
        if (series.hasValues) ctx.insufficient = true;
        continue;
      }
      if (holds(result)) {
        any = true;
        if (wildcard) ctx.matches?.add(key);
      }
    }
    return any;
  };
}
