import { formatDuration, LAAS_VERSION } from '../../protocol/index.js';
import type { AlertRecord, HealRecord } from '../model.js';
import { replay, type TimelineEntry } from '../replay/replay.js';
import type { Rule } from '../rules/schema.js';
import { factsReadBy } from '../rules/schema.js';
import { loadHistory, type LoadedHistory } from '../history/load.js';
import type { HistorySource } from '../history/series-map.js';

export interface BacktestOptions {
  prometheus: string;
  source: HistorySource;
  from: number;
  to: number;
  stepMs: number;
  /** Host id → labels (from the controller's API when it is reachable); hosts not named have none. */
  labels: Record<string, Record<string, string>>;
}

export interface RuleReport {
  rule: string;
  mode: string;
  alerts: { host: string; firedAt: string; endsAt: string | null; firingMs: number }[];
  firingMs: number;
  heals: { host: string; at: string; state: string; action: string; brake?: string; reason: string }[];
  /** Work orders by what would have happened: dispatched, shadow, or the brake that stopped them. */
  healsBy: Record<string, number>;
}

export interface BacktestReport {
  from: string;
  to: string;
  step: string;
  source: HistorySource;
  hosts: number;
  series: number;
  points: number;
  /** Facts the rules read that Prometheus cannot give (text, top processes): conditions on them never hold here. */
  unmapped: string[];
  rules: RuleReport[];
}

/**
 * `laas rules backtest`: what the rules would have done over history Prometheus holds. The
 * series are folded back into each host's facts at every step (history.ts) and replayed through
 * the controller's own core on a simulated clock — the same code `laas rules test` runs — with
 * agents that answer every heal as succeeded; the report lists, per rule, when it would have
 * fired and for how long, and each work order: dispatched, recorded in shadow, or stopped by
 * which brake.
 */
export async function backtest(rules: readonly Rule[], opts: BacktestOptions): Promise<BacktestReport> {
  const facts = new Set(rules.flatMap((r) => factsReadBy(r)));
  const loaded: LoadedHistory = await loadHistory({ url: opts.prometheus, source: opts.source, facts, from: opts.from, to: opts.to, stepMs: opts.stepMs });
  const timeline: TimelineEntry[] = [];
  for (const [host, steps] of loaded.history)
    for (const [at, f] of [...steps].sort((a, b) => a[0] - b[0])) if (at >= opts.from && at <= opts.to) timeline.push({ at: at - opts.from, host, facts: f });
  timeline.sort((a, b) => a.at - b.at);
  const hosts = Object.fromEntries([...loaded.history.keys()].map((h) => [h, { labels: opts.labels[h] ?? {}, agentVersion: LAAS_VERSION }]));
  const out = await replay(
    {
      start: opts.from,
      hosts,
      interval: opts.stepMs,
      timeline,
      decisions: [],
      end: opts.to - opts.from,
      agent: { results: {}, resultAfter: 1000 },
      // History has a point per step already; a gap of three steps is the host being down.
      intervalSamples: false,
      hostDownAfterMs: 3 * opts.stepMs,
    },
    rules,
  );
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    from: iso(opts.from),
    to: iso(opts.to),
    step: formatDuration(opts.stepMs),
    source: opts.source,
    hosts: loaded.history.size,
    series: loaded.series,
    points: loaded.points,
    unmapped: loaded.unmapped,
    rules: rules.map((r) => ruleReport(r, out.alerts, out.heals, opts.to)),
  };
}

function ruleReport(rule: Rule, alerts: readonly AlertRecord[], heals: readonly HealRecord[], to: number): RuleReport {
  const fired = alerts
    .filter((a) => a.rule === rule.id && a.firedAt)
    .map((a) => {
      const end = a.endsAt ? Date.parse(a.endsAt) : to;
      return { host: a.host, firedAt: a.firedAt!, endsAt: a.endsAt ?? null, firingMs: Math.max(0, end - Date.parse(a.firedAt!)) };
    });
  const own = heals.filter((h) => h.rule === rule.id);
  const healsBy: Record<string, number> = {};
  for (const h of own) {
    const k =
      h.state === 'skipped'
        ? `stopped by ${h.brake ?? 'a brake'}`
        : h.state === 'shadow'
          ? h.brake
            ? `shadow, would be stopped by ${h.brake}`
            : 'shadow'
          : 'dispatched';
    healsBy[k] = (healsBy[k] ?? 0) + 1;
  }
  return {
    rule: rule.id,
    mode: rule.effectiveMode,
    alerts: fired,
    firingMs: fired.reduce((s, a) => s + a.firingMs, 0),
    heals: own.map((h) => ({ host: h.host, at: h.createdAt, state: h.state, action: h.action, ...(h.brake ? { brake: h.brake } : {}), reason: h.reason })),
    healsBy,
  };
}

/** The report as people read it. */
export function formatBacktest(r: BacktestReport): string {
  const lines = [
    `backtest ${r.from} → ${r.to}, step ${r.step}, ${r.source} series: ${r.hosts} hosts, ${r.series} series, ${r.points} points`,
    ...(r.unmapped.length ? [`not in Prometheus (conditions on them never hold here): ${r.unmapped.join(', ')}`] : []),
  ];
  for (const rule of r.rules) {
    const hosts = new Set(rule.alerts.map((a) => a.host)).size;
    lines.push(
      '',
      `${rule.rule} (${rule.mode}): ${rule.alerts.length === 0 ? 'would not have fired' : `would have fired ${rule.alerts.length}× on ${hosts} host${hosts === 1 ? '' : 's'}, ${formatDuration(rule.firingMs)} in all`}`,
    );
    for (const a of rule.alerts) lines.push(`  ${a.host}  ${a.firedAt} → ${a.endsAt ?? '(still firing)'}  ${formatDuration(a.firingMs)}`);
    const by = Object.entries(rule.healsBy);
    if (by.length) lines.push(`  work orders: ${by.map(([k, n]) => `${n} ${k}`).join(', ')}`);
    for (const h of rule.heals) lines.push(`    ${h.at}  ${h.host}  ${h.action}  ${h.state}${h.brake ? ` (${h.brake})` : ''}: ${h.reason}`);
  }
  return lines.join('\n');
}
