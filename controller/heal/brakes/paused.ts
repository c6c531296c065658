import type { Brake } from './brake.js';

/** `laas pause`: no automatic heal anywhere until `laas resume`. */
export const paused: Brake = {
  kind: 'paused',
  stops: 'skip',
  check(_ctx, facts) {
    const p = facts.paused();
    if (!p) return undefined;
    return `heals are paused fleet-wide by ${p.by} since ${p.at}${p.reason ? ` (${p.reason})` : ''}; resume with: laas resume`;
  },
};
