import { z } from 'zod';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** Parses "500ms", "10s", "5m", "1h30m", "7d" to milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (!DURATION.test(t)) return undefined;
  let ms = 0;
  for (const m of t.matchAll(PART)) ms += Number(m[1]) * UNITS[m[2]];
  return Math.round(ms);
}

export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0 && ms > 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** A zod schema for a duration string that yields milliseconds. */
export const durationSchema = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration like "10s", "5m" or "7d", got ${JSON.stringify(text)}` });
    return z.NEVER;
  }
  return ms;
});

/** Escapes one JSON pointer token (RFC 6901). */
export function pointerToken(token: PropertyKey): string {
  return String(token).replace(/~/g, '~0').replace(/\//g, '~1');
}

export function jsonPointer(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '/' : '/' + path.map(pointerToken).join('/');
}

/** Turns a zod error into one line per issue: "/heal/params/service: expected string". */
export function zodIssues(error: z.ZodError): { pointer: string; message: string }[] {
  return error.issues.map((issue) => {
    let message = tidy(issue.message);
    if (issue.code === 'unrecognized_keys') message = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    return { pointer: jsonPointer(issue.path), message };
  });
}

/** zod's default wording, said the way an operator reads it. */
export function tidy(message: string): string {
  const missing = /^Invalid input: expected (\w+), received undefined$/.exec(message);
  if (missing) return `required, expected ${missing[1]}`;
  return message.replace(/^Invalid input: /, '').replace(/^Invalid option: expected one of /, 'expected one of ');
}
