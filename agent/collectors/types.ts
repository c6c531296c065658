// Shared by the registry (index.ts) and its members: members import this, never the registry.

import type { Sample } from '../../protocol/index.js';

export type CollectorName = 'cpu' | 'memory' | 'disk' | 'net';
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
  now?: () => number;
}
