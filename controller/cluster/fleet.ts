import type { Fleet } from '../fleet.js';
import type { Cluster } from './cluster.js';

/**
 * The fleet as several controllers on one database see it: a controller decides for the hosts
 * it owns, counts heals in flight on all of them under one advisory lock, and runs each
 * scheduled host once per fire time (a lease).
 */
export function clusterFleet(cluster: Cluster): Fleet {
  return {
    owns: (host) => cluster.owns(host),
    size: () => cluster.hostCount,
    decide: (fn) => cluster.gate(async () => fn(await cluster.inFlight())),
    claimRuns: (rule, fireAt, hosts) => cluster.claimRuns(rule, fireAt, hosts),
  };
}
