/**
 * A small JSONPath subset for condition paths: `$.a.b`, `$['/'].usedPercent`, `$["x"][0]`, and
 * one wildcard, `$.*.daysLeft` or `$[*].up`, that stands for every key of an object (every
 * index of an array). Parsed once at load (a bad path fails the rule file then) and resolved
 * without jsonpath-plus on every evaluation, which is several times faster.
 */
export const ANY_KEY: unique symbol = Symbol('*');
export type PathToken = string | number | typeof ANY_KEY;
export type PathTokens = readonly PathToken[];

/** A wildcard reads at most this many keys: facts are bounded well below it (protocol/facts.ts). */
const MAX_KEYS = 1000;

export function parsePath(path: string): PathTokens | string {
  if (!path.startsWith('$')) return 'a path must start with "$", e.g. "$.demo.up"';
  const tokens: PathToken[] = [];
  let i = 1;
  while (i < path.length) {
    const c = path[i];
    if (c === '.') {
      const m = /^(?:\*|[A-Za-z_$][\w$-]*)/.exec(path.slice(i + 1));
      if (!m) return `expected a name or "*" after "." at character ${i + 1}`;
      tokens.push(m[0] === '*' ? ANY_KEY : m[0]);
      i += 1 + m[0].length;
    } else if (c === '[') {
      const rest = path.slice(i);
      const quoted = /^\[\s*(['"])((?:\\.|(?!\1).)*)\1\s*\]/.exec(rest);
      const index = /^\[\s*(\d+)\s*\]/.exec(rest);
      const any = /^\[\s*\*\s*\]/.exec(rest);
      if (quoted) {
        tokens.push(quoted[2].replace(/\\(.)/g, '$1'));
        i += quoted[0].length;
      } else if (index) {
        tokens.push(Number(index[1]));
        i += index[0].length;
      } else if (any) {
        tokens.push(ANY_KEY);
        i += any[0].length;
      } else {
        return `expected ['name'], [index] or [*] at character ${i}; filters and recursive descent are not supported`;
      }
    } else {
      return `unexpected ${JSON.stringify(c)} at character ${i}`;
    }
  }
  if (tokens.filter((t) => t === ANY_KEY).length > 1) return 'a path may hold one wildcard ("*"), not several';
  return tokens;
}

export const hasWildcard = (tokens: PathTokens): boolean => tokens.includes(ANY_KEY);

/** The value at a path without a wildcard (a wildcard reads undefined: see resolveEach). */
export function resolveTokens(value: unknown, tokens: PathTokens): unknown {
  let v = value;
  for (const t of tokens) {
    if (v === null || typeof v !== 'object' || t === ANY_KEY) return undefined;
    v = Object.hasOwn(v, t) ? (v as Record<string | number, unknown>)[t] : undefined;
  }
  return v;
}

/**
 * Every value a wildcard path reaches, with the key the wildcard took for it: `$.*.daysLeft`
 * on `{site: {daysLeft: 3}, api: {daysLeft: 40}}` gives `[{key: 'site', value: 3}, {key: 'api', value: 40}]`.
 * A key whose rest of the path is missing gives `value: undefined`, as a plain path would.
 */
export function resolveEach(value: unknown, tokens: PathTokens): { key: string; value: unknown }[] {
  const at = tokens.indexOf(ANY_KEY);
  if (at < 0) return [{ key: '', value: resolveTokens(value, tokens) }];
  const parent = resolveTokens(value, tokens.slice(0, at));
  if (parent === null || typeof parent !== 'object') return [];
  const rest = tokens.slice(at + 1);
  return Object.keys(parent)
    .slice(0, MAX_KEYS)
    .map((key) => ({ key, value: resolveTokens((parent as Record<string, unknown>)[key], rest) }));
}

const cache = new Map<string, PathTokens | string>();

/** json-rules-engine `pathResolver`; paths were checked at load, so a bad one reads undefined. */
export function pathResolver(value: unknown, path: string): unknown {
  let tokens = cache.get(path);
  if (tokens === undefined) {
    tokens = parsePath(path);
    if (cache.size < 10_000) cache.set(path, tokens);
  }
  return typeof tokens === 'string' ? undefined : resolveTokens(value, tokens);
}
