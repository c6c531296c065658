import type { Collector, CollectorName, CollectorOptions, HostFacts } from './types.js';
import { createCpuCollector } from './cpu.js';
import { createDiskCollector } from './disk.js';
import { createIoCollector } from './io.js';
import { createMemoryCollector } from './memory.js';
import { createNetCollector } from './net.js';
import { ProcessTable } from './proc-table.js';
import { createSystemCollector } from './system.js';
import { createTopCollector } from './top.js';

export type { Collector, CollectorName, CollectorOptions, Facts, HostFacts } from './types.js';

/** The collector registry: one line per kind of host data. */
export const COLLECTORS: { readonly [K in CollectorName]: (opts?: CollectorOptions) => Collector<K> } = {
  cpu: createCpuCollector,
  memory: createMemoryCollector,
  disk: createDiskCollector,
  net: createNetCollector,
  io: createIoCollector,
  system: createSystemCollector,
  top: createTopCollector,
};

export function createCollectors(opts: CollectorOptions = {}): Collector[] {
  // system and top both read every process's stat: one scan per collection serves both.
  const proc = opts.proc ?? (process.platform === 'linux' ? '/proc' : undefined);
  if (proc && !opts.processTable) opts = { ...opts, processTable: new ProcessTable(proc) };
  return (Object.keys(COLLECTORS) as CollectorName[]).map((name) => COLLECTORS[name](opts) as Collector);
}

/** Runs every collector at once; a collector with nothing to say is left out of the result. */
export async function collectFacts(collectors: readonly Collector[]): Promise<HostFacts> {
  const values = await Promise.all(collectors.map((c) => c.collect().catch(() => undefined)));
  const out: Record<string, unknown> = {};
  collectors.forEach((c, i) => {
    if (values[i] !== undefined) out[c.name] = values[i];
  });
  return out;
}
