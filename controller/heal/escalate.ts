import type { Logger } from '../../protocol/index.js';
import type { Metrics } from '../metrics.js';
import type { HealRecord } from '../model.js';
import type { BrakeState } from './brake-state.js';
import { story, type Orders } from './orders.js';

/**
 * A heal that ran and failed (or timed out) goes to people, with the story of every step, and
 * counts toward its circuit breaker; when that failure opens the breaker, they hear that too.
 */
export async function escalate(order: HealRecord, d: { orders: Orders; state: BrakeState; metrics: Metrics; log: Logger; ruleLoaded: boolean }): Promise<void> {
  const { rule, host } = order;
  d.orders.notice(order, 'escalation', `automatic heal ${order.state} for ${rule} on ${host}: ${order.reason}. ${story(order)}`);
  d.metrics.healEscalations.inc({ rule });
  const cfg = await d.state.recordFailure(order);
  if (!cfg) return;
  d.orders.event(order, 'breaker-open', `circuit breaker opened for ${rule} on ${host}: ${cfg.failures} failed heals within ${cfg.window / 1000}s`);
  d.orders.notice(
    order,
    'breaker-open',
    `circuit breaker opened for ${rule} on ${host} after ${cfg.failures} failed heals; no automatic heals there until it has been healthy for ${cfg.resetAfter / 1000}s (or: laas breakers reset ${rule} ${host})`,
  );
  d.log.warn({ rule, host, known: d.ruleLoaded }, 'circuit breaker opened');
}
