import type { Fleet } from '../fleet.js';
import type { Cluster } from './cluster.js';

/** The cluster message telling the others a heal ended here (see Fleet.freed). */
const SLOT_FREED = 'heal-slot-freed';

/**
 * The fleet as several controllers on one database see it: a controller decides for the hosts
 * it owns, counts heals in flight on all of them under one advisory lock, runs each scheduled
 * host once per fire time (a lease), and tells the others when a heal ends, so a heal waiting
 * for a slot held on another controller gets its turn.
 */
export function clusterFleet(cluster: Cluster): Fleet {
  return {
    owns: (host) => cluster.owns(host),
    size: () => cluster.hostCount,
    decide: (fn) => cluster.gate(async () => fn(await cluster.inFlight())),
    claimRuns: (rule, fireAt, hosts) => cluster.claimRuns(rule, fireAt, hosts),
    freed: () => cluster.broadcast(SLOT_FREED),
    onFreed: (fn) => { cluster.on(SLOT_FREED, fn); },
  };
}
