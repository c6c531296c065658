import type { Brake } from './brake.js';

/** A maintenance window, or a silence that pauses heals, holds automatic heals on the host. */
export const maintenance: Brake = {
  kind: 'maintenance',
  stops: 'skip',
  check({ rule, host }, facts) {
    return facts.hold(rule, host) ?? undefined;
  },
};
