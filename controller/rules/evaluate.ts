import { Engine, type TopLevelCondition } from 'json-rules-engine';
import type { Sample } from '../../protocol/index.js';
import { parsePath, pathResolver, resolveTokens } from './path.js';
import type { Rule } from './schema.js';

export interface HostView {
  id: string;
  labels: Readonly<Record<string, string>>;
}

/** Facts keyed by name (disk by mount, service by name, check by check name…): {} when the sample has none. */
const KEYED = ['disk', 'net', 'io', 'service', 'check', 'metric', 'cert', 'ping', 'dns', 'log'] as const;

/** The facts one sample gives the rules (DESIGN.md "Facts seen by rules"). */
export function factsOf(host: HostView, sample: Sample): Record<string, unknown> {
  const facts: Record<string, unknown> = {
    cpu: sample.cpu,
    memory: sample.memory,
    system: sample.system,
    top: sample.top,
    host: { id: host.id, labels: host.labels, up: true },
  };
  for (const k of KEYED) facts[k] = sample[k] ?? {};
  return facts;
}

/** A rule's host selector: every named label must match; `id` may name the host itself. */
export function selects(rule: Pick<Rule, 'hosts'>, host: HostView): boolean {
  if (!rule.hosts) return true;
  return Object.entries(rule.hosts).every(([k, v]) => (k === 'id' && !Object.hasOwn(host.labels, 'id') ? host.id === v : host.labels[k] === v));
}

type Compiled = (facts: Record<string, unknown>) => boolean;

/** json-rules-engine's built-in operators, verbatim: a fact failing the validator is false. */
const numeric = (v: unknown) => Number.parseFloat(v as string).toString() !== 'NaN';
const OPS: Record<string, { cb: (a: never, b: never) => boolean; valid?: (v: unknown) => boolean }> = {
  equal: { cb: (a, b) => a === b },
  notEqual: { cb: (a, b) => a !== b },
  in: { cb: (a, b: { indexOf(x: unknown): number }) => b.indexOf(a) > -1 },
  notIn: { cb: (a, b: { indexOf(x: unknown): number }) => b.indexOf(a) === -1 },
  contains: { cb: (a: unknown[], b) => a.indexOf(b) > -1, valid: Array.isArray },
  doesNotContain: { cb: (a: unknown[], b) => a.indexOf(b) === -1, valid: Array.isArray },
  lessThan: { cb: (a, b) => a < b, valid: numeric },
  lessThanInclusive: { cb: (a, b) => a <= b, valid: numeric },
  greaterThan: { cb: (a, b) => a > b, valid: numeric },
  greaterThanInclusive: { cb: (a, b) => a >= b, valid: numeric },
};

/**
 * A condition tree as a plain function with json-rules-engine's semantics (built-in operators,
 * `path` on constant facts, undefined facts allowed; every branch is evaluated, as the engine
 * does, so an operator that throws throws here too). Undefined when the tree uses anything else
 * (a fact reference as the value, an unknown operator): that rule set stays on the engine.
 */
export function compileCondition(c: unknown): Compiled | undefined {
  if (typeof c !== 'object' || c === null) return undefined;
  const o = c as Record<string, unknown>;
  if (Array.isArray(o.all) || Array.isArray(o.any)) {
    const parts = ((o.all ?? o.any) as unknown[]).map(compileCondition);
    if (parts.length === 0 || parts.some((p) => !p)) return undefined;
    const fns = parts as Compiled[];
    return o.all
      ? (f) => {
          let ok = true;
          for (const fn of fns) if (!fn(f)) ok = false;
          return ok;
        }
      : (f) => {
          let ok = false;
          for (const fn of fns) if (fn(f)) ok = true;
          return ok;
        };
  }
  if (o.not !== undefined) {
    const inner = compileCondition(o.not);
    return inner && ((f) => !inner(f));
  }
  const op = typeof o.operator === 'string' && Object.hasOwn(OPS, o.operator) ? OPS[o.operator] : undefined;
  if (!op || typeof o.fact !== 'string' || 'condition' in o) return undefined;
  const value = o.value;
  if (typeof value === 'object' && value !== null && Object.hasOwn(value, 'fact')) return undefined;
  const fact = o.fact;
  if (o.path !== undefined && typeof o.path !== 'string') return undefined;
  const tokens = o.path ? parsePath(o.path) : undefined;
  // As the engine's almanac: a path applies to an object fact; any other value is used as is.
  const read = (f: Record<string, unknown>) => {
    const v = f[fact];
    if (tokens === undefined || v === null || typeof v !== 'object') return v;
    return typeof tokens === 'string' ? undefined : resolveTokens(v, tokens);
  };
  const { cb, valid } = op;
  return (f) => {
    const v = read(f);
    return (valid ? valid(v) : true) && cb(v as never, value as never);
  };
}

/**
 * Evaluates samples against the rule set. Hosts that select the same rules share one entry, so
 * each sample runs only the rules for its host, in one pass. Rules the built-in operators cover
 * run as compiled functions (json-rules-engine per sample cost ~0.3 ms for 20 rules, mostly
 * promises and cloning, at 2,000 samples/s most of a core); anything else runs on the engine.
 */
export class Evaluator {
  private readonly engines = new Map<string, { engine: Engine; rules: Rule[]; compiled?: Compiled[] }>();
  private readonly hostKeys = new Map<string, { labels: HostView['labels']; key: string }>();

  constructor(readonly rules: readonly Rule[]) {}

  rulesFor(host: HostView): Rule[] {
    return this.entryFor(host).rules;
  }

  /** Returns each selected rule's verdict for these facts: rule id → condition true. */
  async evaluate(host: HostView, facts: Record<string, unknown>): Promise<Map<string, boolean>> {
    const { engine, rules, compiled } = this.entryFor(host);
    const verdicts = new Map<string, boolean>();
    if (rules.length === 0) return verdicts;
    if (compiled) {
      for (let i = 0; i < rules.length; i++) verdicts.set(rules[i].id, compiled[i](facts));
      return verdicts;
    }
    const { results, failureResults } = await engine.run(facts);
    for (const r of results) verdicts.set(String(r.name), true);
    for (const r of failureResults) verdicts.set(String(r.name), false);
    return verdicts;
  }

  private entryFor(host: HostView): { engine: Engine; rules: Rule[]; compiled?: Compiled[] } {
    let hk = this.hostKeys.get(host.id);
    if (!hk || hk.labels !== host.labels) {
      const key = this.rules
        .filter((r) => selects(r, host))
        .map((r) => r.id)
        .join('\n');
      hk = { labels: host.labels, key };
      this.hostKeys.set(host.id, hk);
    }
    let entry = this.engines.get(hk.key);
    if (!entry) {
      const ids = new Set(hk.key ? hk.key.split('\n') : []);
      const rules = this.rules.filter((r) => ids.has(r.id));
      const engine = new Engine([], { allowUndefinedFacts: true, pathResolver });
      for (const r of rules) {
        engine.addRule({ name: r.id, conditions: structuredClone(r.when) as TopLevelCondition, event: { type: r.id } });
      }
      const compiled = rules.map((r) => compileCondition(r.when));
      entry = { engine, rules, ...(compiled.every(Boolean) ? { compiled: compiled as Compiled[] } : {}) };
      this.engines.set(hk.key, entry);
    }
    return entry;
  }
}
