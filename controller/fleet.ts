import type { InFlight } from './heal/brakes/index.js';

/**
 * The one seam between a controller and the others that share its database. One controller
 * decides for every host (`soloFleet`); several (controller/cluster) each decide for the hosts
 * whose agent links they hold, count heals in flight on all of them, and run each scheduled
 * host once. Chosen once, where the controller is built; nothing else asks which it is.
 */
export interface Fleet {
  /** Whether this controller decides for the host (holds, or last held, its link). */
  owns(host: string): boolean;
  /** Hosts fleet-wide: the base of a percentage fleet limit. */
  size(): number;
  /**
   * Runs a brake decision alone fleet-wide, with the heals in flight on every controller.
   * Absent for one controller: its decisions are made at once, in memory.
   */
  decide?<T>(fn: (inFlight: InFlight[]) => Promise<T>): Promise<T>;
  /**
   * A heal that held a slot ended here: the other controllers' heals waiting for a slot are
   * told to try again (a slot counted fleet-wide frees for them too). Absent for one controller.
   */
  freed?(): Promise<void>;
  /** Runs `fn` when a slot freed on another controller. */
  onFreed?(fn: () => Promise<void>): void;
  /** Of the hosts a schedule fires on, those this controller runs (each host once per fire time). */
  claimRuns(rule: string, fireAt: string, hosts: string[]): Promise<string[]>;
}

/** One controller: it owns every host it knows. */
export function soloFleet(hostCount: () => number): Fleet {
  return { owns: () => true, size: hostCount, claimRuns: async (_rule, _at, hosts) => hosts };
}
