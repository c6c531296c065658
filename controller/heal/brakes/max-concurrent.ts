import { hostLimit } from '../policy.js';
import { union, type Brake } from './brake.js';

/** `maxConcurrent`: hosts the rule heals at once, fleet-wide; the rest wait for a slot. */
export const maxConcurrent: Brake = {
  kind: 'max-concurrent',
  stops: 'defer',
  check({ rule, heal, host, inFlight }, facts) {
    const selected = facts.hostsSelected(rule);
    const limit = hostLimit(heal.maxConcurrent, selected);
    const hosts = union(
      facts.healing((o) => o.rule === rule.id, host),
      inFlight.filter((o) => o.rule === rule.id && o.host !== host).map((o) => o.host),
    );
    if (hosts.length < limit) return undefined;
    return `maxConcurrent ${heal.maxConcurrent} (${limit} of ${selected} host${selected === 1 ? '' : 's'}) reached for ${rule.id}: healing ${hosts.join(', ')}; retried when one finishes`;
  },
};
