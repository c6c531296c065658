import { readFileSync } from 'node:fs';
import { parseTree, printParseErrorCode, type ParseError, type ParseErrorCode } from 'jsonc-parser';
import { jsonPointer } from './duration.js';
import { LaasError, type ErrorCode } from './errors.js';

/** Line and column (1-based) of a character offset, for JSON syntax errors. */
export function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++)
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  return { line, col: offset - last };
}

/**
 * JSON.parse with the error placed at file:line:col. Node's own message does not always give a
 * position, so on failure jsonc-parser (strict mode) finds where the first fault is.
 */
export function parseJsonText(text: string, file: string, code: ErrorCode): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const errors: ParseError[] = [];
    parseTree(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
    const first = errors[0];
    const offset = first ? first.offset : Number(/position (\d+)/.exec((e as Error).message)?.[1] ?? NaN);
    const where = Number.isFinite(offset) ? (({ line, col }) => `${file}:${line}:${col}`)(lineCol(text, offset)) : file;
    const what = first ? describe(first.error) : (e as Error).message.replace(/ in JSON at position \d+.*$/, '').replace(/, "[\s\S]*" is not valid JSON$/, '');
    throw new LaasError(code, `not valid JSON: ${what}`, where);
  }
}

function describe(code: ParseErrorCode): string {
  const name = printParseErrorCode(code);
  return name.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

export interface SchemaIssue {
  pointer: string;
  message: string;
}

/**
 * One fault a schema found: where (keys and indexes from the top) and what. `unknownKeys` is
 * set on an "unknown field" issue (whose path is the object holding them), for callers that
 * word it their own way.
 */
export interface ParseIssue {
  path: readonly PropertyKey[];
  message: string;
  unknownKeys?: readonly string[];
}
export type ParseOutcome<T> = { ok: true; value: T } | { ok: false; issues: ParseIssue[] };

/**
 * What loading and validating need of a schema, whatever library it is written with: the
 * agent's and the protocol's schemas are valibot (protocol/schema.ts `validator`), the
 * controller's own are zod (protocol/zod.ts `zodValidator`). The file position and
 * JSON-pointer reporting below is the same for both.
 */
export interface Validator<T> {
  parse(data: unknown): ParseOutcome<T>;
}

/** One line per issue: "/heal/params/service: expected string". */
export function pointerIssues(issues: readonly ParseIssue[]): SchemaIssue[] {
  return issues.map((i) => ({ pointer: jsonPointer(i.path), message: i.message }));
}

/** Thrown when a document fails its schema: every issue, each with its JSON pointer. */
export class SchemaError extends LaasError {
  readonly issues: SchemaIssue[];
  constructor(code: ErrorCode, file: string, issues: SchemaIssue[]) {
    super(code, issues.map((i) => `${file} ${i.pointer}: ${i.message}`).join('\n'));
    this.issues = issues;
  }
}

/** Reads and parses a JSON file, not yet validated (errors carry file:line:col). */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new LaasError('CONFIG_READ_FAILED', `cannot read: ${(e as Error).message}`, file);
  }
  return parseJsonText(text, file, 'CONFIG_NOT_JSON');
}

/** Reads, parses and validates a JSON config file; the value comes back frozen. */
export function loadJsonFile<T>(file: string, schema: Validator<T>): T {
  return validate(readJsonFile(file), file, schema);
}

export function validate<T>(value: unknown, file: string, schema: Validator<T>, code: ErrorCode = 'CONFIG_INVALID'): T {
  const result = schema.parse(value);
  if (!result.ok) throw new SchemaError(code, file, pointerIssues(result.issues));
  return deepFreeze(result.value);
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}
