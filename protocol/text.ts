/**
 * What characters the strings that reach the store, the logs and people's terminals may hold.
 * Plain functions (no schema library), so the wire's valibot schemas and the controller's zod
 * schemas apply one rule.
 */

/** NUL and lone surrogates: what PostgreSQL cannot store (text columns and JSONB alike). */
export const UNSTORABLE = /[\0\p{Cs}]/u;
/** C0 controls (NUL, tab, newline, escape…), DEL, C1 controls, and lone surrogates. */
export const CONTROL = /[\p{Cc}\p{Cs}]/u;

/** Host label names, as silence matchers and rule selectors spell them (`role`, `env`, `team.name`). */
export const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
/** Labels one host may carry: enough for any inventory, not a way to grow every alert without end. */
export const MAX_LABELS = 64;

/** Why `s` cannot be an identifier, or undefined when it can (the empty string is left to a length check). */
export function nameProblem(s: string): string | undefined {
  if (CONTROL.test(s)) return unsafeCharMessage(s, CONTROL);
  if (/^\s|\s$/.test(s)) return `must not start or end with blanks, got ${JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s)}`;
  return undefined;
}

/** `s` with NUL and lone surrogates replaced by U+FFFD, the replacement character. */
export function storable(s: string): string {
  return UNSTORABLE.test(s) ? s.replace(/[\0\p{Cs}]/gu, '\uFFFD') : s;
}

/** "must not contain NUL (U+0000 at character 3)": the first character of `s` that `which` refuses. */
export function unsafeCharMessage(s: string, which: RegExp): string {
  const m = which.exec(s);
  if (!m) return 'invalid';
  const cp = `U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  const what = m[0] === '\0' ? 'NUL' : /\p{Cs}/u.test(m[0]) ? 'a lone surrogate (not valid Unicode)' : 'a control character';
  return `must not contain ${what} (${cp} at character ${m.index})`;
}
