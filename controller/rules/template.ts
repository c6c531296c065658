import { FACTS } from './leaf.js';
import { hasWildcard, parsePath, resolveTokens, type PathTokens } from './path.js';

/**
 * Alert summaries: `{{host}}`, `{{rule}}`, `{{severity}}`, `{{labels.x}}`, `{{match}}` (the
 * keys a wildcard condition matched: "site, api") and `{{facts.<fact><path>}}` (a value from the
 * sample that fired the alert: `{{facts.log['app-errors'].lastLine}}`, `{{facts.top.memory[0].name}}`).
 * A summary is rendered once, when its alert starts.
 */
const PLACEHOLDER = /\{\{\s*([^{}]+?)\s*\}\}/g;
const FACT_REF = /^facts\.([A-Za-z]+)(.*)$/;
/** A rendered value is cut here, a summary there: a log line must not become a page of text. */
const VALUE_MAX = 200;
export const SUMMARY_MAX = 1000;
/** `{{match}}` names this many keys, then how many more. */
const MATCH_MAX = 10;

export interface SummaryValues {
  host: string;
  rule: string;
  severity: string;
  labels: Readonly<Record<string, string>>;
  /** The facts of the sample that started the alert; absent for alerts raised without one (host down). */
  facts?: Readonly<Record<string, unknown>>;
  match?: readonly string[];
}

/** What is wrong with one placeholder, or undefined when it is fine. */
function checkPlaceholder(key: string): string | undefined {
  if (['host', 'rule', 'severity', 'match'].includes(key) || /^labels\.[\w.-]+$/.test(key)) return undefined;
  const ref = FACT_REF.exec(key);
  if (!ref) return `unknown placeholder {{${key}}} (known: host, rule, severity, labels.<name>, match, facts.<fact><path>)`;
  if (!(FACTS as readonly string[]).includes(ref[1])) return `{{${key}}}: unknown fact ${JSON.stringify(ref[1])} (known: ${FACTS.join(', ')})`;
  const tokens = parsePath(`$${ref[2]}`);
  if (typeof tokens === 'string') return `{{${key}}}: bad path: ${tokens}`;
  if (hasWildcard(tokens)) return `{{${key}}}: a summary names one value; use {{match}} for the keys a wildcard matched`;
  return undefined;
}

/** Every problem in a summary template, for the rule loader (an unknown placeholder fails the file, not the page). */
export function checkSummary(template: string): string[] {
  const problems: string[] = [];
  for (const m of template.matchAll(PLACEHOLDER)) {
    const problem = checkPlaceholder(m[1]);
    if (problem) problems.push(problem);
  }
  return problems;
}

function show(v: unknown): string {
  if (v === undefined || v === null) return '';
  const scalar = (x: unknown) => (typeof x === 'number' ? String(Math.round(x * 100) / 100) : typeof x === 'string' ? x : JSON.stringify(x));
  // A list of names (failed units, answers) reads as a list, not as JSON.
  const s = Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null) ? v.map(scalar).join(', ') : scalar(v);
  // One line: a fact's text (a log line, a plugin's output) may carry newlines and control characters.
  const line = s.replace(/\p{Cc}+/gu, ' ');
  return line.length > VALUE_MAX ? `${line.slice(0, VALUE_MAX - 1)}…` : line;
}

const pathCache = new Map<string, PathTokens>();

function factValue(facts: Readonly<Record<string, unknown>> | undefined, name: string, path: string): unknown {
  if (!facts) return undefined;
  let tokens = pathCache.get(path);
  if (!tokens) {
    const parsed = parsePath(`$${path}`);
    if (typeof parsed === 'string') return undefined;
    tokens = parsed;
    if (pathCache.size < 1000) pathCache.set(path, tokens);
  }
  return resolveTokens(facts[name], tokens);
}

/** Renders a summary; an unknown placeholder stays as written (rules were checked at load). */
export function renderSummary(template: string, values: SummaryValues): string {
  const out = template.replace(PLACEHOLDER, (whole, key: string) => {
    if (key === 'host' || key === 'rule' || key === 'severity') return values[key];
    if (key.startsWith('labels.')) return values.labels[key.slice(7)] ?? '';
    if (key === 'match') {
      const keys = values.match ?? [];
      const more = keys.length - MATCH_MAX;
      return keys.slice(0, MATCH_MAX).map(show).join(', ') + (more > 0 ? ` and ${more} more` : '');
    }
    const ref = FACT_REF.exec(key);
    if (ref) return show(factValue(values.facts, ref[1], ref[2]));
    return whole;
  });
  return out.length > SUMMARY_MAX ? `${out.slice(0, SUMMARY_MAX - 1)}…` : out;
}
