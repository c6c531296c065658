import type { Brake } from './brake.js';

/** `maxPerHour`: heals of the rule on one host per sliding hour. */
export const maxPerHour: Brake = {
  kind: 'max-per-hour',
  stops: 'skip',
  check({ rule, heal, host, now }, facts) {
    const v = facts.starts.withinHour(rule.id, host, heal.maxPerHour, now);
    return v.allowed ? undefined : v.reason;
  },
};
