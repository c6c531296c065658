import type { Sample } from '../../protocol/index.js';
import { createCpuCollector } from './cpu.js';
import { createDiskCollector } from './disk.js';
import { createMemoryCollector } from './memory.js';
import { createNetCollector } from './net.js';

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

/** The collector registry: one line per kind of host data. */
export const COLLECTORS: { readonly [K in CollectorName]: (opts?: CollectorOptions) => Collector<K> } = {
  cpu: createCpuCollector,
  memory: createMemoryCollector,
  disk: createDiskCollector,
  net: createNetCollector,
};

export function createCollectors(opts: CollectorOptions = {}): Collector[] {
  return (Object.keys(COLLECTORS) as CollectorName[]).map((name) => COLLECTORS[name](opts) as Collector);
}

/** Runs every collector at once; a collector with nothing to say is left out of the result. */
export async function collectFacts(collectors: readonly Collector[]): Promise<HostFacts> {
  const values = await Promise.all(collectors.map((c) => c.collect().catch(() => undefined)));
  const out: Record<string, unknown> = {};
  collectors.forEach((c, i) => { if (values[i] !== undefined) out[c.name] = values[i]; });
  return out as HostFacts;
}
