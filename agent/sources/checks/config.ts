import { readdirSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import * as v from 'valibot';
import { check, durationAtLeast, errorMessage, identifier, isPlainObject, jsonPointer, readJsonFile, strictObject } from '../../../protocol/index.js';

/** One command check, as the source runs it. */
export interface CheckConfig {
  readonly name: string;
  /** An argument vector; the program is an absolute path. */
  readonly command: readonly string[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

/** The wire carries at most 500 checks per sample (protocol/facts.ts). */
export const MAX_CHECKS = 500;

const DURATION = (issue: { input: unknown }) => `expected a duration like "30s" or "5m", got ${JSON.stringify(issue.input)}`;
const ARGV = 'expected an argument vector like ["/usr/lib/nagios/plugins/check_load", "-w", "4,3,2", "-c", "8,6,4"]';
const INCLUDE = 'expected an absolute path to a JSON file of checks, "*" and "?" allowed in the file name: "/etc/laas/checks.d/*.json"';

/** The path item valibot puts on an issue, for an issue about `key` of `input`. */
function itemAt(input: Record<string, unknown> | unknown[], key: string | number): v.IssuePathItem {
  const value = (input as Record<string | number, unknown>)[key];
  return Array.isArray(input)
    ? { type: 'array', origin: 'value', input, key: key as number, value }
    : { type: 'object', origin: 'value', input, key: key as string, value };
}

/**
 * A check as written in agent.json or a file it includes. Only the agent's own config says what
 * runs: the controller names no command, it only reads the results.
 */
const checkSchema = strictObject({
  name: identifier(200),
  command: v.pipe(
    v.array(v.pipe(v.string(ARGV), v.minLength(1, 'must not be empty'), v.maxLength(4096)), ARGV),
    v.minLength(1, ARGV),
    v.maxLength(256),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed || dataset.value.length === 0) return;
      const program = dataset.value[0];
      if (!isAbsolute(program))
        addIssue({
          message: `expected the program's absolute path (no PATH lookup, no shell), like "/usr/lib/nagios/plugins/check_disk", got ${JSON.stringify(program)}`,
          path: [itemAt(dataset.value, 0)],
        });
      dataset.value.forEach((arg, i) => {
        if (arg.includes('\0')) addIssue({ message: 'must not contain NUL', path: [itemAt(dataset.value, i)] });
      });
    }),
  ),
  interval: v.optional(durationAtLeast(1000, 'must be at least "1s"', DURATION), '1m'),
  timeout: v.optional(v.pipe(durationAtLeast(100, 'must be at least "100ms"', DURATION), v.maxValue(600_000, 'must be at most "10m"')), '10s'),
});

const includeSchema = strictObject({
  include: v.pipe(
    v.string(INCLUDE),
    v.check((p) => isAbsolute(p) && !p.includes('\0') && !/[*?]/.test(dirname(p)), INCLUDE),
  ),
});

/** A file of checks holds one check or a list of them (no includes: one level only). */
const fileSchema = v.lazy((input) => (Array.isArray(input) ? v.array(checkSchema, 'expected a list of checks') : checkSchema));

type Written = v.InferOutput<typeof checkSchema>;

const toConfig = (c: Written): CheckConfig => ({ name: c.name, command: [...c.command], intervalMs: c.interval, timeoutMs: c.timeout });

/**
 * agent.json `checks`: a list of checks and `{"include": "/etc/laas/checks.d/*.json"}` items.
 * Included files are read when the config is loaded, so a fault in one fails the agent's start
 * with the file and the JSON pointer, as a fault in agent.json does. Names are unique across all.
 */
export const checksConfig = v.pipe(
  v.array(
    v.lazy((input) => (isPlainObject(input) && Object.hasOwn(input, 'include') ? includeSchema : checkSchema)),
    'expected a list of checks like [{"name": "load", "command": ["/usr/lib/nagios/plugins/check_load", "-w", "4,3,2", "-c", "8,6,4"]}]',
  ),
  v.maxLength(MAX_CHECKS, `at most ${MAX_CHECKS} checks`),
  v.rawTransform(({ dataset, addIssue: report, NEVER }) => {
    const items = dataset.value;
    let faults = 0;
    const addIssue: typeof report = (issue) => {
      faults++;
      report(issue);
    };
    const out: CheckConfig[] = [];
    /** Where each name was first defined, for the duplicate's message. */
    const seen = new Map<string, string>();
    const add = (c: Written, where: string, path: [v.IssuePathItem, ...v.IssuePathItem[]]) => {
      const first = seen.get(c.name);
      if (first !== undefined) return addIssue({ message: `duplicate check name ${JSON.stringify(c.name)} (first at ${first})`, path });
      seen.set(c.name, where);
      out.push(toConfig(c));
    };
    items.forEach((item, i) => {
      if (!('include' in item)) return add(item, `/checks/${i}`, [itemAt(items, i), itemAt(item, 'name')]);
      // A new path for each issue: valibot prepends the outer keys to the array it is given.
      const at = (): [v.IssuePathItem, ...v.IssuePathItem[]] => [itemAt(items, i), itemAt(item, 'include')];
      let files: string[];
      try {
        files = expand(item.include);
      } catch (e) {
        return addIssue({ message: errorMessage(e), path: at() });
      }
      for (const file of files) {
        let raw: unknown;
        try {
          raw = readJsonFile(file);
        } catch (e) {
          addIssue({ message: errorMessage(e), path: at() });
          continue;
        }
        const r = check(fileSchema, raw);
        if (!r.ok) {
          for (const issue of r.issues) addIssue({ message: `${file} ${jsonPointer(issue.path)}: ${issue.message}`, path: at() });
          continue;
        }
        const list = Array.isArray(r.value) ? r.value : [r.value];
        list.forEach((c, j) => add(c, Array.isArray(r.value) ? `${file} /${j}` : file, at()));
      }
    });
    if (out.length > MAX_CHECKS) addIssue({ message: `at most ${MAX_CHECKS} checks in all, got ${out.length} with the included files` });
    return faults > 0 ? NEVER : out;
  }),
);

/** The files an include names, sorted: the path itself, or the matches of the "*" and "?" in its file name. */
export function expand(pattern: string): string[] {
  const dir = dirname(pattern);
  const base = basename(pattern);
  if (!/[*?]/.test(base)) return [pattern];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new Error(`cannot read the directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}`, { cause: e });
  }
  const re = new RegExp(
    `^${base
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  // Hidden files (editor backups, ".#x.json") are not checks, as a shell glob would not match them.
  return names
    .filter((n) => !n.startsWith('.') && re.test(n))
    .sort()
    .map((n) => join(dir, n));
}
