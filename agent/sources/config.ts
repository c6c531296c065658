import * as v from 'valibot';
import { checksConfig } from './checks/config.js';
import { scrapeConfig } from './scrape/config.js';
import { logsConfig } from './log/config.js';
import { certsConfig } from './cert/config.js';
import { dnsConfig } from './dns/config.js';
import { pingsConfig } from './ping/config.js';

/**
 * Each fact source's section of agent.json, by key — one line per source, e.g.
 * `checks: v.optional(checksConfig, [])`. The parsed value (durations in ms) reaches the source
 * as `config.sources.<key>`. Paths in a section must be absolute: the agent may run from any folder.
 */
export const SOURCE_CONFIG = {
  checks: v.optional(checksConfig, []),
  scrape: v.optional(scrapeConfig, []),
  logs: v.optional(logsConfig, []),
  certs: v.optional(certsConfig, []),
  pings: v.optional(pingsConfig, []),
  dns: v.optional(dnsConfig, []),
} satisfies v.ObjectEntries;

export type SourcesConfig = { readonly [K in keyof typeof SOURCE_CONFIG]: v.InferOutput<(typeof SOURCE_CONFIG)[K]> };
