import type { Logger } from '../../../protocol/index.js';
import type { AlertRecord, HealRecord, PauseState } from '../../model.js';
import type { HealSpec, Rule } from '../../rules/schema.js';
import type { Breakers } from '../breaker.js';
import type { NoticeKind } from '../orders.js';
import type { Starts } from '../starts.js';

/** Which brake stopped a heal; the work order records it in `brake`. */
export type BrakeKind = 'busy' | 'paused' | 'maintenance' | 'flapping' | 'breaker' | 'cooldown' | 'max-per-hour' | 'max-concurrent' | 'fleet-limit';

/** A heal under way somewhere in the fleet (several controllers count each other's). */
export interface InFlight {
  host: string;
  rule: string;
}

/** One heal being decided. */
export interface BrakeContext {
  rule: Rule;
  heal: HealSpec;
  host: string;
  now: number;
  /** The work order being decided: it is open while it is, and does not count against itself. */
  order: string;
  /** The firing alert the heal is for (absent for a scheduled run). */
  alert?: AlertRecord;
  /** Heals in flight on other controllers; empty for one controller. */
  inFlight: readonly InFlight[];
}

/** What the brakes may read of the heal service's state. */
export interface BrakeFacts {
  paused(): PauseState | null;
  /** A maintenance window or a heal-pausing silence covering the host, or null. */
  hold(rule: Rule, host: string): string | null;
  breakers(): Breakers;
  saveBreakers(): Promise<void>;
  starts: Starts;
  /** The open work order of this rule on this host, other than `except`. */
  openFor(rule: string, host: string, except?: string): HealRecord | undefined;
  /** Hosts with a heal under way here (sent, not finished), other than `except`. */
  healing(match: (o: HealRecord) => boolean, except: string): string[];
  /** How many hosts the rule selects now (the base of a percentage limit). */
  hostsSelected(rule: Rule): number;
  /** Hosts fleet-wide (the base of a percentage fleet limit). */
  fleetSize(): number;
  /** Hosts healed at once across every rule (count or percentage of the fleet); none when unset. */
  fleetLimit?: number | string;
  log: Logger;
}

/**
 * One brake: it looks at a heal and either lets it pass (undefined) or says why it must not
 * run now. `skip` ends the work order; `defer` ends it too, and the heal is asked for again
 * when a heal in progress finishes (a concurrency slot frees).
 */
export interface Brake {
  readonly kind: BrakeKind;
  readonly stops: 'skip' | 'defer';
  /** People are told, with this notice, each time it stops a heal (besides the work order). */
  readonly notice?: NoticeKind;
  check(ctx: BrakeContext, facts: BrakeFacts): string | undefined;
  /** Told when it stopped a heal that will not run (not in shadow mode). */
  stopped?(ctx: BrakeContext, facts: BrakeFacts): Promise<void>;
}

export type BrakeVerdict = { outcome: 'allow' } | { outcome: 'skip' | 'defer'; kind: BrakeKind; reason: string };

/** Hosts in both lists once, sorted (those healing here and those in flight elsewhere). */
export function union(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])].sort();
}
