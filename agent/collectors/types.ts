// Shared by the registry (index.ts) and its members: members import this, never the registry.

import type { Sample } from '../../protocol/index.js';
import type { ProcessTable } from './proc-table.js';

export type CollectorName = 'cpu' | 'memory' | 'disk' | 'net' | 'io' | 'system' | 'top';
/** The facts one collector yields, exactly as the sample message carries them. */
export type Facts<K extends CollectorName> = NonNullable<Sample[K]>;
export type HostFacts = Pick<Sample, CollectorName>;

/** One kind of host data. collect() never throws: undefined means "not measured this time". */
export interface Collector<K extends CollectorName = CollectorName> {
  readonly name: K;
  collect(): Promise<Facts<K> | undefined>;
}

export interface CollectorOptions {
  /** Where procfs is mounted; set to read fixtures, unset to pick /proc on Linux only. */
  proc?: string;
  /** Where sysfs is mounted (/sys); fixtures set it like `proc`. */
  sys?: string;
  /** The runtime directory (/run) where reboot-required and systemd's markers live. */
  run?: string;
  /** The user database that names process owners (/etc/passwd). */
  passwd?: string;
  /** Runs a command (argument vector, no shell) and gives its stdout; fixtures replace it. */
  exec?: (file: string, args: readonly string[]) => Promise<string>;
  /** One process scan shared by the collectors that need every /proc/<pid>/stat (system, top). */
  processTable?: ProcessTable;
  now?: () => number;
}
