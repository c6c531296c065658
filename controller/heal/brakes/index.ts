import type { Brake, BrakeContext, BrakeFacts, BrakeVerdict } from './brake.js';
import { breaker } from './breaker.js';
import { busy } from './busy.js';
import { cooldown } from './cooldown.js';
import { flapping } from './flapping.js';
import { fleetLimit } from './fleet-limit.js';
import { maintenance } from './maintenance.js';
import { maxConcurrent } from './max-concurrent.js';
import { maxPerHour } from './max-per-hour.js';
import { paused } from './paused.js';

export type { Brake, BrakeContext, BrakeFacts, BrakeKind, BrakeVerdict, InFlight } from './brake.js';

/**
 * Every brake, in the order it is asked: the first that stops a heal gives the verdict and its
 * reason. Adding a brake is one file and one line here.
 */
export const BRAKES: readonly Brake[] = [busy, paused, maintenance, flapping, breaker, cooldown, maxPerHour, maxConcurrent, fleetLimit];

/** The brakes' verdict on one heal, and the brake that gave it. */
export function judge(ctx: BrakeContext, facts: BrakeFacts, brakes: readonly Brake[] = BRAKES): { verdict: BrakeVerdict; brake?: Brake } {
  for (const brake of brakes) {
    const reason = brake.check(ctx, facts);
    if (reason !== undefined) return { verdict: { outcome: brake.stops, kind: brake.kind, reason }, brake };
  }
  return { verdict: { outcome: 'allow' } };
}
