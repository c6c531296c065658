import { Engine, type TopLevelCondition } from 'json-rules-engine';
import type { Sample } from '../../protocol/index.js';
import { pathResolver } from './path.js';
import type { Rule } from './schema.js';

export interface HostView {
  id: string;
  labels: Readonly<Record<string, string>>;
}

/** The facts one sample gives the rules (DESIGN.md "Facts seen by rules"). */
export function factsOf(host: HostView, sample: Sample): Record<string, unknown> {
  return {
    cpu: sample.cpu,
    memory: sample.memory,
    disk: sample.disk ?? {},
    net: sample.net ?? {},
    service: sample.service ?? {},
    host: { id: host.id, labels: host.labels, up: true },
  };
}

/** A rule's host selector: every named label must match; `id` may name the host itself. */
export function selects(rule: Pick<Rule, 'hosts'>, host: HostView): boolean {
  if (!rule.hosts) return true;
  return Object.entries(rule.hosts).every(([k, v]) => (k === 'id' && !Object.hasOwn(host.labels, 'id') ? host.id === v : host.labels[k] === v));
}

/**
 * Evaluates samples against the rule set with json-rules-engine. Hosts that select the same
 * rules share one engine, so each sample runs only the rules for its host, in one pass.
 */
export class Evaluator {
  private readonly engines = new Map<string, { engine: Engine; rules: Rule[] }>();
  private readonly hostKeys = new Map<string, { labels: HostView['labels']; key: string }>();

  constructor(readonly rules: readonly Rule[]) {}

  rulesFor(host: HostView): Rule[] {
    return this.entryFor(host).rules;
  }

  /** Returns each selected rule's verdict for these facts: rule id → condition true. */
  async evaluate(host: HostView, facts: Record<string, unknown>): Promise<Map<string, boolean>> {
    const { engine, rules } = this.entryFor(host);
    const verdicts = new Map<string, boolean>();
    if (rules.length === 0) return verdicts;
    const { results, failureResults } = await engine.run(facts);
    for (const r of results) verdicts.set(String(r.name), true);
    for (const r of failureResults) verdicts.set(String(r.name), false);
    return verdicts;
  }

  private entryFor(host: HostView): { engine: Engine; rules: Rule[] } {
    let hk = this.hostKeys.get(host.id);
    if (!hk || hk.labels !== host.labels) {
      const key = this.rules.filter((r) => selects(r, host)).map((r) => r.id).join('\n');
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
      entry = { engine, rules };
      this.engines.set(hk.key, entry);
    }
    return entry;
  }
}
