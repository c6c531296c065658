import * as v from 'valibot';
import type { ParseIssue, ParseOutcome, Validator } from './json-file.js';
import { CONTROL, LABEL_NAME, MAX_LABELS, UNSTORABLE, nameProblem, storable, unsafeCharMessage } from './text.js';

/**
 * valibot, the protocol's and the agent's schema library, and the few helpers that keep its
 * behaviour and wording what laas has always promised: objects are plain JSON objects (never
 * arrays), unknown fields are errors naming every one of them, and a default message says
 * what was expected and what came. valibot schemas are plain objects and only the functions
 * used are bundled, which keeps the installed agent small (bench/RESULTS.md, agent-footprint).
 */

type Issue = v.BaseIssue<unknown>;
type Dataset = { value: unknown; typed?: boolean; issues?: Issue[] };
type Run = (dataset: Dataset, config: v.Config<Issue>) => Dataset;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value as an error message shows it: strings quoted (and cut), containers by kind. */
export function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (isPlainObject(value)) return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- isPlainObject took the objects: only primitives are left
  return String(value);
}

const TYPE_WORDS: Record<string, string> = { Object: 'object', Array: 'array' };
/** valibot's `expects` ("Object", '("a" | "b")') as a reader says it. */
function expectsWord(expects: string | null | undefined): string {
  const e = (expects ?? 'a value').replace(/\b(Object|Array)\b/g, (w) => TYPE_WORDS[w]);
  const options = /^\((.*)\)$/.exec(e)?.[1]?.split(' | ');
  if (!options) return e;
  // Literal options ("a" | "b") are a choice of values; bare words (string | null) are types.
  return options.some((o) => o.startsWith('"')) ? `one of ${options.join(', ')}` : options.join(' or ');
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/**
 * The message of every issue whose schema gives none of its own: what was expected, what was
 * got. Custom messages in the schemas always win over this.
 */
export function defaultMessage(issue: Issue): string {
  const got = shown(issue.input);
  const req = (issue as { requirement?: unknown }).requirement;
  const unit = Array.isArray(issue.input) ? 'item' : 'character';
  const length = (issue.input as { length?: number } | undefined)?.length ?? 0;
  switch (issue.type) {
    case 'min_length':
      return req === 1 ? 'must not be empty' : `expected at least ${count(Number(req), unit)}, got ${length}`;
    case 'max_length':
      return `expected at most ${count(Number(req), unit)}, got ${length}`;
    case 'min_value':
      return `expected at least ${String(req)}, got ${got}`;
    case 'max_value':
      return `expected at most ${String(req)}, got ${got}`;
    case 'gt_value':
      return `expected more than ${String(req)}, got ${got}`;
    case 'integer':
    case 'safe_integer':
      return `expected a whole number, got ${got}`;
    case 'finite':
      return `expected a finite number, got ${got}`;
    case 'regex':
      return `expected text matching ${String(req)}, got ${got}`;
  }
  if (issue.kind === 'schema')
    return issue.input === undefined ? `required, expected ${expectsWord(issue.expected)}` : `expected ${expectsWord(issue.expected)}, got ${got}`;
  return issue.message.replace(/^Invalid \w+: /, '');
}

const CONFIG: v.Config<Issue> = { message: defaultMessage };

function objectTypeMessage(input: unknown, typeMessage: string | undefined): string {
  return typeMessage ?? (input === undefined ? 'required, expected object' : `expected object, got ${shown(input)}`);
}

/**
 * A strict object: unknown fields are refused (all of them named in one issue on the object),
 * arrays are not objects, and a missing field says "required" with what it expects — or the
 * field's own message when it has one, as zod did.
 */
export function strictObject<const E extends v.ObjectEntries>(entries: E, typeMessage?: string) {
  const schema = v.strictObject(entries, (issue) => {
    const at = issue.path?.[issue.path.length - 1] as { input: Record<string, unknown>; key: string } | undefined;
    if (issue.expected === 'never' && at) {
      const keys = Object.keys(at.input).filter((k) => !Object.hasOwn(entries, k));
      // valibot stops at the first unknown key; all of them ride on the issue for the adapter below.
      (issue as { unknownKeys?: string[] }).unknownKeys = keys;
      return `unknown field${keys.length > 1 ? 's' : ''} ${keys.map((k) => JSON.stringify(k)).join(', ')}`;
    }
    if (issue.input === undefined && at && Object.hasOwn(entries, at.key)) {
      const field = entries[at.key] as { message?: string | ((issue: unknown) => string); expects?: string };
      if (typeof field.message === 'string') return field.message;
      // The field's own message for "nothing given" (no path: it is the field's issue, not ours).
      if (typeof field.message === 'function') return String(field.message({ ...issue, input: undefined, received: 'undefined', path: undefined }));
      return `required, expected ${expectsWord(field.expects)}`;
    }
    return objectTypeMessage(issue.input, typeMessage);
  });
  const run = schema['~run'] as unknown as Run;
  (schema as unknown as { '~run': Run })['~run'] = function (this: typeof schema, dataset, config) {
    if (Array.isArray(dataset.value)) {
      v._addIssue(this as never, 'type', dataset as never, config);
      return dataset;
    }
    return run.call(this, dataset, config);
  };
  return schema;
}

/**
 * A record (a plain object of any keys). Unlike valibot's own, it keeps keys named
 * "constructor" or "prototype" (a label or a service may be called that) instead of silently
 * dropping them; "__proto__" alone is skipped, as zod did, so no parsed value gains a prototype.
 */
export function record<const K extends v.GenericSchema<string, string>, const V extends v.GenericSchema>(key: K, value: V, typeMessage?: string) {
  const schema = v.record(key, value, (issue) => objectTypeMessage(issue.input, typeMessage));
  (schema as unknown as { '~run': Run })['~run'] = function (this: typeof schema, dataset, config) {
    const input = dataset.value;
    if (!isPlainObject(input)) {
      v._addIssue(this as never, 'type', dataset as never, config);
      return dataset;
    }
    dataset.typed = true;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(input)) {
      if (k === '__proto__') continue;
      const entry = input[k];
      const keyRun = (this.key['~run'] as unknown as Run)({ value: k }, config);
      const valueRun = (this.value['~run'] as unknown as Run)({ value: entry }, config);
      for (const [d, origin] of [
        [keyRun, 'key'],
        [valueRun, 'value'],
      ] as const) {
        for (const issue of d.issues ?? []) {
          const item = { type: 'object', origin, input, key: k, value: entry } as const;
          (issue as { path?: unknown[] }).path = origin === 'key' ? [item] : [item, ...(issue.path ?? [])];
          (dataset.issues ??= []).push(issue);
        }
        if (!d.typed) dataset.typed = false;
      }
      out[k] = valueRun.value;
    }
    dataset.value = out;
    return dataset;
  };
  return schema;
}

/** A number JSON can carry and arithmetic trusts (1e999 parses to Infinity: refused). */
export const finiteNumber = (message?: string) => v.pipe(v.number(message), v.finite(message));
/** A whole number within 2^53, as zod's `.int()` was. */
export const wholeNumber = (message?: string) => v.pipe(v.number(message), v.safeInteger(message));

/**
 * A string of at most `max` characters, without NUL or a lone UTF-16 surrogate: PostgreSQL can
 * store neither, and one write it refuses fails every flush after it.
 */
export const text = (max: number) =>
  v.pipe(
    v.string(),
    v.maxLength(max),
    v.check(
      (s) => !UNSTORABLE.test(s),
      (issue) => unsafeCharMessage(issue.input, UNSTORABLE),
    ),
  );

/** Text shown and matched as it is (labels, host names, versions): no control characters either. */
export const plainText = (max: number) =>
  v.pipe(
    v.string(),
    v.maxLength(max),
    v.check(
      (s) => !CONTROL.test(s),
      (issue) => unsafeCharMessage(issue.input, CONTROL),
    ),
  );

/**
 * An identifier (agent and host ids, service, script and action names, instruction ids): 1 to
 * `max` characters, no control characters, no blanks around it — it keys records and is typed
 * back by people.
 */
export const identifier = (max = 200) =>
  v.pipe(
    v.string(),
    v.minLength(1, 'must not be empty'),
    v.maxLength(max),
    v.check(
      (s) => nameProblem(s) === undefined,
      (issue) => nameProblem(issue.input) ?? 'invalid',
    ),
  );

/**
 * Output as it came (stdout, stderr, a probe's detail): anything goes, except that NUL and lone
 * surrogates become U+FFFD, the replacement character — so it can be stored anywhere.
 */
export const freeText = (max: number) => v.pipe(v.string(), v.maxLength(max), v.transform(storable));

/** A host's labels: at most MAX_LABELS, names like `role`, values of plain text. */
export const hostLabels = () =>
  v.pipe(
    record(
      v.pipe(
        v.string(),
        v.minLength(1, 'must not be empty'),
        v.maxLength(100),
        v.regex(LABEL_NAME, 'expected a label name: a letter or "_", then letters, digits, "_", "." or "-"'),
      ),
      plainText(200),
    ),
    v.check(
      (l) => Object.keys(l).length <= MAX_LABELS,
      (issue) => `expected at most ${MAX_LABELS} labels, got ${Object.keys(issue.input as object).length}`,
    ),
  );

/** Where an issue points: the keys and indexes from the top of the checked value. */
function toParseIssue(issue: Issue): ParseIssue {
  const path = (issue.path ?? []).map((p) => (p as { key: string | number }).key);
  const unknownKeys = (issue as { unknownKeys?: string[] }).unknownKeys;
  // An unknown field is a fault of the object that has it (as zod put it), not of a field.
  if (unknownKeys) return { path: path.slice(0, -1), message: issue.message, unknownKeys };
  return { path, message: issue.message };
}

/** Checks a value against a valibot schema: the typed output, or every issue with its path. */
export function check<S extends v.GenericSchema>(schema: S, data: unknown): ParseOutcome<v.InferOutput<S>> {
  const r = v.safeParse(schema, data, CONFIG);
  return r.success ? { ok: true, value: r.output } : { ok: false, issues: r.issues.map((i) => toParseIssue(i)) };
}

/** The valibot adapter of json-file's Validator interface. */
export function validator<S extends v.GenericSchema>(schema: S): Validator<v.InferOutput<S>> {
  return { parse: (data) => check(schema, data) };
}
