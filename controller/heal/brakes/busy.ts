import type { Brake } from './brake.js';

/** One work order per rule and host at a time: a second request while one is open is recorded, not run. */
export const busy: Brake = {
  kind: 'busy',
  stops: 'skip',
  check({ rule, host, order }, facts) {
    const open = facts.openFor(rule.id, host, order);
    return open ? `work order ${open.id} for ${rule.id} on ${host} is still open` : undefined;
  },
};
