import type { AlertService } from './alerts/service.js';
import type { Metrics } from './metrics.js';
import { Evaluator, type HostView } from './rules/evaluate.js';
import type { Rule } from './rules/schema.js';
import type { Windows } from './rules/windows/store.js';
import type { ControllerFacts } from './self-facts.js';

/** The host of alerts that rules with `"scope": "controller"` raise. */
export const CONTROLLER_HOST = 'controller';
/** How often the controller judges itself. */
export const SELF_INTERVAL_MS = 10_000;

export interface SelfRuleDeps {
  alerting: AlertService;
  metrics: Metrics;
  /** The `controller` fact now. */
  read: (now: number) => Promise<ControllerFacts> | ControllerFacts;
}

/**
 * Rules about the controller itself (`"scope": "controller"`: heal failure ratio, notifications
 * failing, store errors): every SELF_INTERVAL_MS the `controller` fact is judged like a host's
 * sample — windows, `for`, routing and silences alike — and the alerts carry host "controller".
 */
export class SelfRules {
  private evaluator: Evaluator | undefined;
  private rules = new Map<string, Rule>();
  private lastAt = -Infinity;

  constructor(private readonly deps: SelfRuleDeps) {}

  setRules(rules: readonly Rule[], windows: Windows): void {
    const own = rules.filter((r) => r.scope === 'controller');
    this.rules = new Map(own.map((r) => [r.id, r]));
    this.evaluator = own.length ? new Evaluator(rules, windows, 'controller') : undefined;
  }

  async tick(now: number): Promise<void> {
    if (!this.evaluator || now - this.lastAt < SELF_INTERVAL_MS) return;
    this.lastAt = now;
    const view: HostView = { id: CONTROLLER_HOST, labels: {} };
    const facts = { controller: await this.deps.read(now), host: { id: CONTROLLER_HOST, labels: {}, up: true } };
    const { verdicts, matches, insufficient } = await this.evaluator.evaluate(view, facts, now);
    for (const id of insufficient) this.deps.metrics.rulesNotEnoughData.inc({ rule: id });
    for (const [id, holds] of verdicts) {
      const rule = this.rules.get(id);
      if (rule) this.deps.alerting.observe(rule, view, holds, now, { facts, match: matches.get(id) ?? [] });
    }
  }
}
