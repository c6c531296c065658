import { hostLimit } from '../policy.js';
import { union, type Brake } from './brake.js';

/** `heal.maxConcurrent` in controller.json: hosts under automatic heal at once across all rules. */
export const fleetLimit: Brake = {
  kind: 'fleet-limit',
  stops: 'defer',
  check({ host, inFlight }, facts) {
    if (facts.fleetLimit === undefined) return undefined;
    const fleet = facts.fleetSize();
    const limit = hostLimit(facts.fleetLimit, fleet);
    const busy = union(
      facts.healing(() => true, host),
      inFlight.filter((o) => o.host !== host).map((o) => o.host),
    );
    if (busy.length < limit) return undefined;
    return `fleet-wide limit ${facts.fleetLimit} (${limit} of ${fleet} hosts) reached: healing ${busy.join(', ')}; retried when one finishes`;
  },
};
