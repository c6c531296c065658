import type { Brake } from './brake.js';

/** A fault that keeps coming and going is not healed again and again: people look at it. */
export const flapping: Brake = {
  kind: 'flapping',
  stops: 'skip',
  notice: 'flapping',
  check({ rule, host, alert }) {
    if (!alert?.flapping) return undefined;
    return `flapping: the condition of ${rule.id} on ${host} changed ${rule.flap.changes} times or more within ${rule.flap.windowMs / 1000}s, so automatic heals wait until it settles; look at it by hand`;
  },
};
