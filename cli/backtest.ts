import { parseDuration } from '../protocol/index.js';
import { call } from './api-client.js';

export interface BacktestCliOptions {
  prometheus: string;
  from: string;
  to: string;
  step: string;
  source: string;
  controller?: string;
  json?: boolean;
}

/**
 * A point in time as people write it on a command line: "now", "-7d" or "7d" (that long ago),
 * an ISO 8601 date, or Unix seconds. Undefined when it is none of these.
 */
export function parseTime(text: string, now: number): number | undefined {
  const t = text.trim();
  if (t === 'now') return now;
  const ago = parseDuration(t.replace(/^-/, ''));
  if (ago !== undefined) return now - ago;
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const iso = /^\d{4}-\d{2}-\d{2}/.test(t) ? Date.parse(t) : NaN;
  return Number.isFinite(iso) ? iso : undefined;
}

/** Steps a backtest may replay: the core runs every step of every host, so past this it is the wrong tool. */
const MAX_STEPS = 200_000;

function fail(message: string): void {
  process.stderr.write(`laas: ${message}\n`);
  process.exitCode = 1;
}

/** `laas rules backtest`: load and validate the rules, replay Prometheus history through them, print the report. */
export async function runBacktest(paths: string[], o: BacktestCliOptions): Promise<void> {
  const now = Date.now();
  const from = parseTime(o.from, now);
  const to = parseTime(o.to, now);
  const stepMs = parseDuration(o.step);
  if (from === undefined) return fail(`--from ${JSON.stringify(o.from)} is not a time: give "-7d", an ISO date or Unix seconds`);
  if (to === undefined) return fail(`--to ${JSON.stringify(o.to)} is not a time: give "now", "-1h", an ISO date or Unix seconds`);
  if (stepMs === undefined || stepMs < 1000) return fail(`--step ${JSON.stringify(o.step)} is not a duration of at least 1s (e.g. "15s", "1m")`);
  if (to <= from) return fail(`--from (${new Date(from).toISOString()}) must be before --to (${new Date(to).toISOString()})`);
  if ((to - from) / stepMs > MAX_STEPS)
    return fail(`${Math.ceil((to - from) / stepMs)} steps is more than ${MAX_STEPS}: use a longer --step or a shorter range`);
  if (o.source !== 'laas' && o.source !== 'node')
    return fail(`--source ${JSON.stringify(o.source)}: use "laas" (series laas exports) or "node" (node_exporter's)`);

  const { formatRuleError, loadRules } = await import('../controller/rules/load.js');
  const { rules, errors } = loadRules(paths);
  if (errors.length) {
    for (const e of errors) process.stderr.write(`${formatRuleError(e)}\n`);
    return fail(`the rules do not load (${errors.length} error${errors.length === 1 ? '' : 's'}): fix them, \`laas rules validate\` shows the same`);
  }
  const labels: Record<string, Record<string, string>> = {};
  if (o.controller) {
    const hosts = (await call('GET', '/api/v1/hosts', { url: o.controller })) as { id: string; labels?: Record<string, string> }[] | undefined;
    if (!hosts) return; // call() said why
    for (const h of hosts) labels[h.id] = h.labels ?? {};
  }
  const { backtest, formatBacktest } = await import('../controller/backtest/run.js');
  const { LaasError } = await import('../protocol/index.js');
  try {
    const report = await backtest(rules, { prometheus: o.prometheus, source: o.source, from, to, stepMs, labels });
    process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatBacktest(report)}\n`);
  } catch (e) {
    if (e instanceof LaasError) return fail(`${e.code}: ${e.message}`);
    throw e;
  }
}
