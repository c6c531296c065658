import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { type LaasError, deepFreeze, parseJsonText, type ErrorCode } from '../../protocol/index.js';
import { zodIssues } from '../../protocol/zod.js';
import { NAMESPACE_FILE, namespaceSchema, ruleSchema, type Rule } from './schema.js';

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
  const namespaces = new Map<string, 'enforce' | 'shadow'>();
  let files = 0;
  for (const root of paths) {
    let entries: RuleFileEntry[];
    try {
      entries = listRuleFiles(root);
    } catch (e) {
      errors.push({ code: 'RULES_NOT_FOUND', file: root, pointer: '', message: `cannot read: ${(e as Error).message}` });
      continue;
    }
    for (const { file, namespace, nsDir } of entries) {
      files++;
      const mode = namespaceMode(nsDir, namespaces, errors);
      const rule = loadRuleFile(file, namespace, errors);
      if (rule) rules.push({ ...rule, effectiveMode: rule.mode ?? mode });
    }
  }
  const seen = new Map<string, Rule>();
  for (const rule of rules) {
    const other = seen.get(rule.id);
    if (other)
      errors.push({
        code: 'RULE_DUPLICATE_NAME',
        file: rule.file,
        pointer: '/name',
        message: `duplicate rule name "${rule.name}" in namespace "${rule.namespace}" (also in ${other.file})`,
      });
    else seen.set(rule.id, rule);
    if (opts.receivers) {
      rule.notify.forEach((r, i) => {
        if (!opts.receivers!.has(r))
          errors.push({
            code: 'RULE_UNKNOWN_RECEIVER',
            file: rule.file,
            pointer: `/notify/${i}`,
            message: `unknown receiver "${r}" (the controller config defines: ${[...opts.receivers!].join(', ') || 'none'})`,
          });
      });
    }
  }
  resolveDependencies(rules, seen, errors);
  return { rules: errors.length ? [] : rules.map((r) => deepFreeze(r)), errors, files };
}

/** `dependsOn` names a rule as "namespace/name", or "name" in the rule's own namespace; it must exist and not be the rule. */
function resolveDependencies(rules: Rule[], byId: ReadonlyMap<string, Rule>, errors: RuleError[]): void {
  for (const rule of rules) {
    rule.dependsOn = rule.dependsOn?.map((d, i) => {
      const id = d.rule.includes('/') ? d.rule : `${rule.namespace}/${d.rule}`;
      const problem =
        id === rule.id ? 'a rule cannot depend on itself' : byId.has(id) ? undefined : `unknown rule "${id}" (rules depend on rules of the same set)`;
      if (problem) errors.push({ code: 'RULE_INVALID', file: rule.file, pointer: `/dependsOn/${i}`, message: problem });
      return { ...d, rule: id };
    });
  }
}

interface RuleFileEntry {
  file: string;
  namespace: string;
  nsDir: string;
}

function listRuleFiles(root: string): RuleFileEntry[] {
  const st = statSync(root);
  if (st.isFile()) return [{ file: root, namespace: basename(dirname(root)) || 'default', nsDir: dirname(root) }];
  const out: RuleFileEntry[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 10) return;
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.name.startsWith('.')) continue;
      if (entry.isDirectory()) walk(path, depth + 1);
      // Rule unit tests sit beside their rules as *.test.json, and _namespace.json holds the
      // namespace's settings: neither is a rule.
      else if (entry.isFile() && entry.name.endsWith('.json') && !entry.name.endsWith('.test.json') && !entry.name.startsWith('_')) {
        const rel = relative(root, path).split(sep);
        out.push({ file: path, namespace: rel.length > 1 ? rel[0] : 'default', nsDir: rel.length > 1 ? join(root, rel[0]) : root });
      }
    }
  };
  walk(root, 0);
  return out;
}

/** The namespace's mode from its _namespace.json (enforce when there is none). */
function namespaceMode(nsDir: string, cache: Map<string, 'enforce' | 'shadow'>, errors: RuleError[]): 'enforce' | 'shadow' {
  const known = cache.get(nsDir);
  if (known) return known;
  const file = join(nsDir, NAMESPACE_FILE);
  let mode: 'enforce' | 'shadow' = 'enforce';
  if (existsSync(file)) {
    const doc = readDoc(file, errors);
    if (doc !== undefined) {
      const parsed = namespaceSchema.safeParse(doc);
      if (parsed.success) mode = parsed.data.mode;
      else for (const issue of zodIssues(parsed.error)) errors.push({ code: 'RULE_INVALID', file, pointer: issue.pointer, message: issue.message });
    }
  }
  cache.set(nsDir, mode);
  return mode;
}

function readDoc(file: string, errors: RuleError[]): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    errors.push({ code: 'RULE_READ_FAILED', file, pointer: '', message: `cannot read: ${(e as Error).message}` });
    return undefined;
  }
  try {
    return parseJsonText(text, file, 'RULE_NOT_JSON');
  } catch (e) {
    const err = e as LaasError;
    errors.push({ code: 'RULE_NOT_JSON', file: err.where ?? file, pointer: '', message: err.message.slice((err.where ?? '').length + 2) });
    return undefined;
  }
}

function loadRuleFile(file: string, namespace: string, errors: RuleError[]): Omit<Rule, 'effectiveMode'> | undefined {
  const json = readDoc(file, errors);
  if (json === undefined) return undefined;
  const parsed = ruleSchema.safeParse(json);
  if (!parsed.success) {
    for (const issue of zodIssues(parsed.error)) errors.push({ code: codeFor(issue.pointer), file, pointer: issue.pointer, message: issue.message });
    return undefined;
  }
  return { ...parsed.data, id: `${namespace}/${parsed.data.name}`, namespace, file };
}

function codeFor(pointer: string): ErrorCode {
  if (/^\/heal(\/steps\/\d+)?\/action$/.test(pointer)) return 'RULE_UNKNOWN_ACTION';
  if (/^\/heal(\/steps\/\d+)?\/params/.test(pointer)) return 'RULE_BAD_PARAMS';
  if (/\/path$/.test(pointer)) return 'RULE_BAD_PATH';
  return 'RULE_INVALID';
}
