import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { LaasError, deepFreeze, parseJsonText, zodIssues, type ErrorCode } from '../../protocol/index.js';
import { ruleSchema, type Rule } from './schema.js';

export interface RuleError {
  code: ErrorCode;
  file: string;
  /** JSON pointer of the fault inside the file ("" for the file as a whole). */
  pointer: string;
  message: string;
}

export function formatRuleError(e: RuleError): string {
  return `${e.file}${e.pointer ? ` ${e.pointer}` : ''}: ${e.message}`;
}

export interface LoadedRules {
  rules: Rule[];
  errors: RuleError[];
  files: number;
}

export interface LoadOptions {
  /** Receivers the controller defines; when given, a rule naming another is an error. */
  receivers?: ReadonlySet<string>;
}

/**
 * Loads every rule file under the given paths and reports every error at once, each with its
 * file and JSON pointer. The namespace is the first folder under a rules dir; a file given
 * directly takes its parent folder's name.
 */
export function loadRules(paths: readonly string[], opts: LoadOptions = {}): LoadedRules {
  const errors: RuleError[] = [];
  const rules: Rule[] = [];
  let files = 0;
  for (const root of paths) {
    let entries: { file: string; namespace: string }[];
    try {
      entries = listRuleFiles(root);
    } catch (e) {
      errors.push({ code: 'RULES_NOT_FOUND', file: root, pointer: '', message: `cannot read: ${(e as Error).message}` });
      continue;
    }
    for (const { file, namespace } of entries) {
      files++;
      const rule = loadRuleFile(file, namespace, errors);
      if (rule) rules.push(rule);
    }
  }
  const seen = new Map<string, Rule>();
  for (const rule of rules) {
    const other = seen.get(rule.id);
    if (other) errors.push({ code: 'RULE_DUPLICATE_NAME', file: rule.file, pointer: '/name', message: `duplicate rule name "${rule.name}" in namespace "${rule.namespace}" (also in ${other.file})` });
    else seen.set(rule.id, rule);
    if (opts.receivers) {
      rule.notify.forEach((r, i) => {
        if (!opts.receivers!.has(r)) errors.push({ code: 'RULE_UNKNOWN_RECEIVER', file: rule.file, pointer: `/notify/${i}`, message: `unknown receiver "${r}" (the controller config defines: ${[...opts.receivers!].join(', ') || 'none'})` });
      });
    }
  }
  return { rules: errors.length ? [] : rules.map((r) => deepFreeze(r)), errors, files };
}

function listRuleFiles(root: string): { file: string; namespace: string }[] {
  const st = statSync(root);
  if (st.isFile()) return [{ file: root, namespace: basename(dirname(root)) || 'default' }];
  const out: { file: string; namespace: string }[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 10) return;
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.name.startsWith('.')) continue;
      if (entry.isDirectory()) walk(path, depth + 1);
      // Rule unit tests sit beside their rules as *.test.json; they are not rules.
      else if (entry.isFile() && entry.name.endsWith('.json') && !entry.name.endsWith('.test.json')) {
        const rel = relative(root, path).split(sep);
        out.push({ file: path, namespace: rel.length > 1 ? rel[0] : 'default' });
      }
    }
  };
  walk(root, 0);
  return out;
}

function loadRuleFile(file: string, namespace: string, errors: RuleError[]): Rule | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    errors.push({ code: 'RULE_READ_FAILED', file, pointer: '', message: `cannot read: ${(e as Error).message}` });
    return undefined;
  }
  let json: unknown;
  try {
    json = parseJsonText(text, file, 'RULE_NOT_JSON');
  } catch (e) {
    const err = e as LaasError;
    errors.push({ code: 'RULE_NOT_JSON', file: err.where ?? file, pointer: '', message: err.message.slice((err.where ?? '').length + 2) });
    return undefined;
  }
  const parsed = ruleSchema.safeParse(json);
  if (!parsed.success) {
    for (const issue of zodIssues(parsed.error)) errors.push({ code: codeFor(issue.pointer), file, pointer: issue.pointer, message: issue.message });
    return undefined;
  }
  return { ...parsed.data, id: `${namespace}/${parsed.data.name}`, namespace, file };
}

function codeFor(pointer: string): ErrorCode {
  if (pointer === '/heal/action') return 'RULE_UNKNOWN_ACTION';
  if (pointer.startsWith('/heal/params')) return 'RULE_BAD_PARAMS';
  if (/\/path$/.test(pointer)) return 'RULE_BAD_PATH';
  return 'RULE_INVALID';
}
