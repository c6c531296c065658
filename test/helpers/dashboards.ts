import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The shipped Grafana dashboards and what tests read from them. */
export const DASHBOARDS_DIR = resolve('dashboards');

export interface Target {
  refId?: string;
  expr?: string;
  datasource?: unknown;
  format?: string;
  instant?: boolean;
  legendFormat?: string;
}
export interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: unknown;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  fieldConfig?: { defaults?: { unit?: string } };
  panels?: Panel[];
}
export interface Variable {
  name: string;
  type: string;
  query?: unknown;
  definition?: string;
  datasource?: unknown;
  current?: { value?: unknown };
}
export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
  annotations?: { list: { datasource?: unknown; expr?: string; name: string; builtIn?: number }[] };
}

export function loadDashboards(): { file: string; dashboard: Dashboard }[] {
  return readdirSync(DASHBOARDS_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, dashboard: JSON.parse(readFileSync(join(DASHBOARDS_DIR, file), 'utf8')) as Dashboard }));
}

/** Every panel, rows' nested (collapsed) panels included. */
export function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

export interface PanelQuery {
  dashboard: string;
  panel: string;
  panelId: number;
  refId: string;
  expr: string;
}

/** The PromQL of every panel target: what Grafana sends to Prometheus. */
export function panelQueries(d: Dashboard): PanelQuery[] {
  return allPanels(d).flatMap((p) =>
    (p.targets ?? []).map((t, i) => ({
      dashboard: d.uid,
      panel: p.title,
      panelId: p.id,
      refId: t.refId ?? String(i),
      expr: t.expr ?? '',
    })),
  );
}

/** Template variable queries (label_values(metric, label) and plain PromQL). */
export function variableQueries(d: Dashboard): string[] {
  return d.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => {
      const q = v.query as string | { query?: string } | undefined;
      return (typeof q === 'string' ? q : q?.query) ?? v.definition ?? '';
    });
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan', 'atan2']);

/**
 * The metric names a PromQL expression reads: strings, label matchers, ranges, grouping
 * clauses and Grafana variables are taken out, then every identifier that is not a function
 * call or a keyword is a metric name. `label_values(metric, label)` is read as its metric.
 */
export function metricNames(expr: string): string[] {
  const lv = /^\s*label_values\(\s*([a-zA-Z_:][\w:]*)/.exec(expr);
  if (lv) return [lv[1]];
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w.:])[a-zA-Z_:][\w:]*/g)) {
    const after = stripped.slice(m.index + m[0].length);
    if (/^\s*\(/.test(after) || KEYWORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names];
}

/** Fills Grafana's variables the way Grafana would before sending a query to Prometheus. */
export function fillVariables(expr: string, vars: Record<string, string>): string {
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (whole, a: string | undefined, b: string | undefined) => {
    const name = (a ?? b)!;
    if (!(name in vars)) throw new Error(`no value for Grafana variable ${whole} in: ${expr}`);
    return vars[name];
  });
}

/** `key: value` pairs of a small YAML file (enough for the provisioning files; no YAML library needed). */
export function yamlValues(text: string, key: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`^\\s*(?:-\\s+)?${key}:\\s*(.+?)\\s*$`, 'gm');
  for (const m of text.matchAll(re)) if (!m[1].startsWith('#')) out.push(m[1].replace(/^["']|["']$/g, ''));
  return out;
}
