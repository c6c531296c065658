import { z } from 'zod';
import type { AlertRecord } from '../model.js';
import { formatMatcher, matcherSchema, matches, type Matcher } from './matchers.js';

/**
 * controller.json `inhibit`, as Alertmanager writes it: while an alert matching
 * `source_matchers` fires, alerts matching `target_matchers` with the same values of every
 * `equal` label are not paged (and their heals wait). A rule's `dependsOn` is the same thing
 * with the rules named: the parent rule is the source, the rule itself the target.
 */
export const inhibitSchema = z.strictObject({
  source_matchers: z.array(matcherSchema).min(1, 'an inhibition needs at least one source matcher, e.g. "alertname=db-down"'),
  target_matchers: z.array(matcherSchema).min(1, 'an inhibition needs at least one target matcher, e.g. "severity=warning"'),
  equal: z.array(z.string().min(1)).default([]),
});

export interface Inhibition {
  source: readonly Matcher[];
  target: readonly Matcher[];
  equal: readonly string[];
  /** How it reads in a reason: the config entry or the rule that depends. */
  origin: string;
}

export const fromConfig = (entries: readonly z.output<typeof inhibitSchema>[]): Inhibition[] =>
  entries.map((e, i) => ({ source: e.source_matchers, target: e.target_matchers, equal: e.equal, origin: `inhibit[${i}]` }));

/** A rule's `dependsOn`: its alerts wait while the parent's alert fires on a host with the same `equal` labels. */
export function fromDependencies(rules: readonly { id: string; dependsOn?: readonly { rule: string; equal: readonly string[] }[] }[]): Inhibition[] {
  const eq = (name: string, value: string): Matcher => ({ name, value, isRegex: false, isEqual: true });
  return rules.flatMap((r) =>
    (r.dependsOn ?? []).map((d) => ({ source: [eq('rule', d.rule)], target: [eq('rule', r.id)], equal: d.equal, origin: `${r.id} dependsOn` })),
  );
}

/**
 * Which firing alert holds another back. The firing alerts matching each inhibition's source
 * are listed once per change of the alert set (`changed()`), so a storm of alerts asks about
 * a short list each, not about every alert.
 */
export class Inhibitor {
  private inhibitions: Inhibition[] = [];
  private sources: AlertRecord[][] | undefined;

  constructor(private readonly firing: () => readonly AlertRecord[]) {}

  set(inhibitions: Inhibition[]): void {
    this.inhibitions = inhibitions;
    this.sources = undefined;
  }

  /** An alert started or stopped firing: the source lists are made again when next asked. */
  changed(): void {
    this.sources = undefined;
  }

  /** True when the alert matches some inhibition's source: its resolving may free others. */
  isSource(a: AlertRecord): boolean {
    return this.inhibitions.some((i) => matches(i.source, a.labels));
  }

  /** Why the alert is held back, or null. An alert never inhibits itself. */
  reason(a: AlertRecord): string | null {
    if (this.inhibitions.length === 0) return null;
    if (!this.sources) {
      const firing = this.firing().filter((f) => f.state === 'firing');
      this.sources = this.inhibitions.map((i) => firing.filter((f) => matches(i.source, f.labels)));
    }
    for (const [k, i] of this.inhibitions.entries()) {
      if (!matches(i.target, a.labels)) continue;
      const by = this.sources[k].find((s) => s.id !== a.id && i.equal.every((l) => (s.labels[l] ?? '') === (a.labels[l] ?? '')));
      if (by)
        return `inhibited by ${by.labels.alertname ?? by.rule} firing on ${by.host} (${i.origin}: ${i.source.map(formatMatcher).join(', ')}${i.equal.length ? `; equal ${i.equal.join(', ')}` : ''})`;
    }
    return null;
  }
}
