import { z } from 'zod';
import { parseDuration } from './duration.js';
import { pointerIssues, type ParseIssue, type SchemaIssue, type Validator } from './json-file.js';
import { nameProblem } from './text.js';

/**
 * The zod side of the protocol's schema helpers, for the controller's own schemas (its config,
 * rules, API bodies). Kept out of protocol/index.ts on purpose: the agent imports that index,
 * and zod must stay off its path (the pack fails if the agent bundle holds any of zod).
 */

/** A duration string ("10s") that yields milliseconds. */
export const zDuration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration like "10s", "5m" or "7d", got ${JSON.stringify(text)}` });
    return z.NEVER;
  }
  return ms;
});

/** An agent or host id, by the wire's rule (protocol/text.ts): no control characters, no blanks around it. */
export const zIdentifier = z
  .string()
  .min(1, 'must not be empty')
  .max(200)
  .superRefine((s, ctx) => {
    const problem = nameProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** A secret given inline, or as {env: NAME} or {file: PATH} so it need not sit in the config. */
export const zSecret = z.union([z.string().min(1), z.strictObject({ env: z.string().min(1) }), z.strictObject({ file: z.string().min(1) })]);

/** zod's issues as json-file's ParseIssue: unknown keys named, default wording tidied. */
export function zodParseIssues(error: z.ZodError): ParseIssue[] {
  return error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return {
        path: issue.path,
        message: `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`,
        unknownKeys: issue.keys,
      };
    }
    return { path: issue.path, message: tidy(issue.message) };
  });
}

/** Turns a zod error into one line per issue: "/heal/params/service: expected string". */
export function zodIssues(error: z.ZodError): SchemaIssue[] {
  return pointerIssues(zodParseIssues(error));
}

/** zod's default wording, said the way an operator reads it. */
export function tidy(message: string): string {
  const missing = /^Invalid input: expected (\w+), received undefined$/.exec(message);
  if (missing) return `required, expected ${missing[1]}`;
  return message.replace(/^Invalid input: /, '').replace(/^Invalid option: expected one of /, 'expected one of ');
}

/** The zod adapter of json-file's Validator interface. */
export function zodValidator<S extends z.ZodType>(schema: S): Validator<z.output<S>> {
  return {
    parse(data) {
      const r = schema.safeParse(data);
      return r.success ? { ok: true, value: r.data } : { ok: false, issues: zodParseIssues(r.error) };
    },
  };
}
