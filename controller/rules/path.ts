/**
 * A small JSONPath subset for condition paths: `$.a.b`, `$['/'].usedPercent`, `$["x"][0]`.
 * Parsed once at load (a bad path fails the rule file then) and resolved without
 * jsonpath-plus on every evaluation, which is several times faster.
 */
export type PathTokens = readonly (string | number)[];

export function parsePath(path: string): PathTokens | string {
  if (!path.startsWith('$')) return 'a path must start with "$", e.g. "$.demo.up"';
  const tokens: (string | number)[] = [];
  let i = 1;
  while (i < path.length) {
    const c = path[i];
    if (c === '.') {
      const m = /^[A-Za-z_$][\w$-]*/.exec(path.slice(i + 1));
      if (!m) return `expected a name after "." at character ${i + 1}`;
      tokens.push(m[0]);
      i += 1 + m[0].length;
    } else if (c === '[') {
      const rest = path.slice(i);
      const quoted = /^\[\s*(['"])((?:\\.|(?!\1).)*)\1\s*\]/.exec(rest);
      const index = /^\[\s*(\d+)\s*\]/.exec(rest);
      if (quoted) {
        tokens.push(quoted[2].replace(/\\(.)/g, '$1'));
        i += quoted[0].length;
      } else if (index) {
        tokens.push(Number(index[1]));
        i += index[0].length;
      } else {
        return `expected ['name'] or [index] at character ${i}; filters and wildcards are not supported`;
      }
    } else {
      return `unexpected ${JSON.stringify(c)} at character ${i}`;
    }
  }
  return tokens;
}

export function resolveTokens(value: unknown, tokens: PathTokens): unknown {
  let v = value;
  for (const t of tokens) {
    if (v === null || typeof v !== 'object') return undefined;
    v = Object.hasOwn(v, t) ? (v as Record<string | number, unknown>)[t] : undefined;
  }
  return v;
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
