import { compileCondition, type Compiled, type EvalContext } from './compile.js';
import { selects, type HostView } from './evaluate.js';
import { parsePath, resolveTokens, type PathTokens } from './path.js';
import type { Rule } from './schema.js';
import { windowValue, type Windows } from './windows/store.js';

/** A fleet rule's alert belongs to no one host: this is its host id. */
export const FLEET_HOST = 'fleet';

/** One fleet rule's verdict after a change among its members. */
export interface FleetJudgement {
  rule: Rule;
  holds: boolean;
  /** Fewer members than minHosts, or no numbers to average: false for want of data. */
  insufficient: boolean;
  /** The members meeting `where` (count, share), sorted: what `{{match}}` names and heals reach. */
  holding: string[];
  /** The member whose sample (or departure) caused this judgement, and whether it now meets `where`. */
  host: string;
  hostHolds: boolean;
}

interface State {
  members: Set<string>;
  holding: Set<string>;
  values: Map<string, number>;
  sum: number;
}

interface Compiled1 {
  rule: Rule;
  where?: Compiled;
  avg?: { fact: string; tokens: PathTokens };
}

/**
 * Fleet conditions, kept up to date one sample at a time: each member host's latest answer to
 * `where` (and its value for `avg`) is remembered, the counts are adjusted as it changes, so a
 * sample costs the same at 10 hosts as at 20,000. A host that goes down leaves the members until
 * it reports again. Over the hosts this controller holds (with several controllers, each judges
 * its own share of the fleet).
 */
export class FleetEvaluator {
  private readonly rules: Compiled1[];
  private readonly states = new Map<string, State>();

  constructor(
    rules: readonly Rule[],
    private readonly windows: Windows,
  ) {
    this.rules = rules
      .filter((r) => r.fleet)
      .map((rule) => {
        const f = rule.fleet!;
        const tokens = f.avg ? parsePath(f.avg.path ?? '$') : undefined;
        return {
          rule,
          ...(f.where ? { where: compileCondition(f.where) ?? (() => false) } : {}),
          ...(f.avg && typeof tokens !== 'string' ? { avg: { fact: f.avg.fact, tokens: tokens! } } : {}),
        };
      });
    for (const r of this.rules) this.states.set(r.rule.id, { members: new Set(), holding: new Set(), values: new Map(), sum: 0 });
  }

  get size(): number {
    return this.rules.length;
  }

  /** A sample of a host: every fleet rule selecting it is judged again. */
  observe(host: HostView, facts: Record<string, unknown>, at: number): FleetJudgement[] {
    if (this.rules.length === 0) return [];
    const out: FleetJudgement[] = [];
    const ctx: EvalContext = { host: host.id, at, windows: this.windows, matches: undefined, insufficient: false };
    for (const c of this.rules) {
      if (!selects(c.rule, host)) continue;
      const s = this.states.get(c.rule.id)!;
      s.members.add(host.id);
      const holds = c.where ? c.where(facts, ctx) : false;
      if (holds) s.holding.add(host.id);
      else s.holding.delete(host.id);
      if (c.avg) {
        const raw = facts[c.avg.fact];
        const v = windowValue(raw !== null && typeof raw === 'object' ? resolveTokens(raw, c.avg.tokens) : raw);
        this.setValue(s, host.id, Number.isNaN(v) ? undefined : v);
      }
      out.push(this.judge(c, s, host.id, holds));
    }
    return out;
  }

  /** A host went down or away: it leaves every fleet it was in, which are judged again. */
  remove(host: string): FleetJudgement[] {
    const out: FleetJudgement[] = [];
    for (const c of this.rules) {
      const s = this.states.get(c.rule.id)!;
      if (!s.members.delete(host)) continue;
      s.holding.delete(host);
      this.setValue(s, host, undefined);
      out.push(this.judge(c, s, host, false));
    }
    return out;
  }

  /** Whether a member host meets the rule's `where` now (a deferred heal asks before it runs). */
  holds(ruleId: string, host: string): boolean {
    return this.states.get(ruleId)?.holding.has(host) ?? false;
  }

  private setValue(s: State, host: string, v: number | undefined): void {
    const before = s.values.get(host);
    if (before !== undefined) s.sum -= before;
    if (v === undefined) s.values.delete(host);
    else {
      s.values.set(host, v);
      s.sum += v;
    }
  }

  private judge(c: Compiled1, s: State, host: string, hostHolds: boolean): FleetJudgement {
    const f = c.rule.fleet!;
    const base = { rule: c.rule, host, hostHolds, holding: [...s.holding].sort() };
    if (s.members.size < f.minHosts) return { ...base, holds: false, insufficient: true };
    let measured: number | undefined;
    let cmp: { operator: string; value: number };
    if (f.count) [measured, cmp] = [s.holding.size, f.count];
    else if (f.share) [measured, cmp] = [(s.holding.size / s.members.size) * 100, f.share];
    else [measured, cmp] = [s.values.size ? s.sum / s.values.size : undefined, f.avg!];
    if (measured === undefined) return { ...base, holds: false, insufficient: true };
    return { ...base, holds: compare(measured, cmp.operator, cmp.value), insufficient: false };
  }
}

function compare(a: number, op: string, b: number): boolean {
  switch (op) {
    case 'equal':
      return a === b;
    case 'notEqual':
      return a !== b;
    case 'lessThan':
      return a < b;
    case 'lessThanInclusive':
      return a <= b;
    case 'greaterThan':
      return a > b;
    default:
      return a >= b;
  }
}
