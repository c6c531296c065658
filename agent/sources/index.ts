import type { Sample } from '../../protocol/index.js';
import type { AgentConfig } from '../config.js';
import { checkSource } from './checks/source.js';
import { createScrapeSource } from './scrape/index.js';
import { logSource } from './log/index.js';
import { certSource } from './cert/source.js';
import { dnsSource } from './dns/source.js';
import { pingSource } from './ping/source.js';
import type { FactSource, SourceContext, SourceFactory } from './types.js';

export type { FactSource, SourceContext, SourceFact, SourceFactory } from './types.js';

/** The fact-source registry: one line per kind of source. */
export const SOURCES: readonly SourceFactory[] = [checkSource, createScrapeSource, logSource, certSource, pingSource, dnsSource];

export function createSources(config: AgentConfig, ctx: SourceContext): FactSource[] {
  return SOURCES.map((make) => make(config, ctx)).filter((s): s is FactSource => s !== undefined);
}

/** The latest facts of every source, as the sample carries them. */
export function sourceFacts(sources: readonly FactSource[]): Partial<Sample> {
  const out: Record<string, unknown> = {};
  for (const s of sources) {
    const snap = s.snapshot();
    if (snap !== undefined) out[s.fact] = snap;
  }
  return out;
}
