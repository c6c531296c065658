import type { InFlight } from './heal/brakes/index.js';
import type { HostRecord } from './model.js';

/** An operator's request on a host's record, which the controller owning the host carries out. */
export type OwnerRequest =
  | { kind: 'approve' | 'reject'; id: string; by: string; comment: string }
  | { kind: 'ack'; id: string; by: string; comment: string }
  | { kind: 'breaker-reset'; rule: string; host: string; by: string };

/**
 * The one seam between a controller and the others that share its database. One controller
 * decides for every host (`soloFleet`); several (controller/cluster) each decide for the hosts
 * whose agent links they hold, count heals in flight on all of them, run each scheduled host
 * once, and carry out an operator's request where its host is owned. Chosen once, where the
 * controller is built; nothing else asks which it is.
 */
export interface Fleet {
  /** Whether this controller decides for the host (holds, or last held, its link). */
  owns(host: string): boolean;
  /** Hosts fleet-wide: the base of a percentage fleet limit. */
  size(): number;
  /** Every host of the fleet, as its owner last recorded it. */
  hosts(): Promise<HostRecord[]>;
  host(id: string): Promise<HostRecord | undefined>;
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
  /** The agent of `host` said hello here: this controller owns it from now (and takes over what another had open). */
  claim(host: string): Promise<void>;
  /** Resolves when a take-over of `host` is complete: its agent's messages wait for it. */
  ready(host: string): Promise<void>;
  /** Carries out `req` on the controller owning `host` (`local` when that is this one); absent host: here. */
  onOwner<T>(host: string | undefined, req: OwnerRequest, local: () => Promise<T>): Promise<T>;
}

/** One controller: it owns every host it knows. */
export function soloFleet(registry: { count(): number; list(): HostRecord[] }): Fleet {
  return {
    owns: () => true,
    size: () => registry.count(),
    hosts: async () => registry.list(),
    host: async (id) => registry.list().find((h) => h.id === id),
    claimRuns: async (_rule, _at, hosts) => hosts,
    claim: async () => {},
    ready: async () => {},
    onOwner: (_host, _req, local) => local(),
  };
}
