import type { Brake } from './brake.js';

/** An open circuit breaker (too many failed heals of the rule on the host) stops automatic heals there. */
export const breaker: Brake = {
  kind: 'breaker',
  stops: 'skip',
  check({ rule, heal, host, now }, facts) {
    const state = facts.breakers().check(rule.id, host, now, heal.breaker, false);
    if (state === 'closed-now') facts.log.info({ rule: rule.id, host }, 'circuit breaker closed after a healthy period');
    if (state !== 'open') return undefined;
    const opened = new Date(facts.breakers().openedAt(rule.id, host)!).toISOString();
    return `circuit breaker open for ${rule.id} on ${host} since ${opened}; it closes after ${heal.breaker.resetAfter / 1000}s without the fault, or reset it: laas breakers reset ${rule.id} ${host}`;
  },
  /** The fault is back while the breaker is open: its healthy period starts again. */
  async stopped({ rule, host, now }, facts) {
    facts.breakers().noteUnhealthy(rule.id, host, now);
    await facts.saveBreakers();
  },
};
