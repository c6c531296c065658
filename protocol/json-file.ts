import { readFileSync } from 'node:fs';
import { parseTree, printParseErrorCode, type ParseError, type ParseErrorCode } from 'jsonc-parser';
import type { z } from 'zod';
import { zodIssues } from './duration.js';
import { LaasError, type ErrorCode } from './errors.js';

/** Line and column (1-based) of a character offset, for JSON syntax errors. */
export function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) { line++; last = i; }
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

export interface SchemaIssue { pointer: string; message: string }

/** Thrown when a document fails its schema: every issue, each with its JSON pointer. */
export class SchemaError extends LaasError {
  readonly issues: SchemaIssue[];
  constructor(code: ErrorCode, file: string, issues: SchemaIssue[]) {
    super(code, issues.map((i) => `${file} ${i.pointer}: ${i.message}`).join('\n'));
    this.issues = issues;
  }
}

/** Reads, parses and validates a JSON config file; the value comes back frozen. */
export function loadJsonFile<S extends z.ZodType>(file: string, schema: S): z.output<S> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new LaasError('CONFIG_READ_FAILED', `cannot read: ${(e as Error).message}`, file);
  }
  return validate(parseJsonText(text, file, 'CONFIG_NOT_JSON'), file, schema);
}

export function validate<S extends z.ZodType>(value: unknown, file: string, schema: S, code: ErrorCode = 'CONFIG_INVALID'): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new SchemaError(code, file, zodIssues(result.error));
  return deepFreeze(result.data);
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}
