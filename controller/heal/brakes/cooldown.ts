import type { Brake } from './brake.js';

/** `cooldown`: the least time between two heals of the rule on one host. */
export const cooldown: Brake = {
  kind: 'cooldown',
  stops: 'skip',
  check({ rule, heal, host, now }, facts) {
    const last = facts.starts.last(rule.id, host);
    if (heal.cooldown <= 0 || last === undefined || now - last >= heal.cooldown) return undefined;
    return `cooldown ${heal.cooldown / 1000}s: the last heal of ${rule.id} on ${host} started ${Math.round((now - last) / 1000)}s ago`;
  },
};
