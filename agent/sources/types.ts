// Shared by the registry (index.ts) and its members: members import this, never the registry.

import type { Logger, Sample } from '../../protocol/index.js';
import type { AgentConfig } from '../config.js';

/** The facts a source on its own schedule yields (checks, scrapes, certificates, pings, DNS, logs). */
export type SourceFact = 'check' | 'metric' | 'cert' | 'ping' | 'dns' | 'log';

export interface SourceContext {
  log: Logger;
  /** The environment commands the agent starts may see (agent/child-env.ts). */
  env: NodeJS.ProcessEnv;
  /** A state changed that rules should see now (a check went critical): send a sample at once. */
  changed: (trigger: 'check-change') => void;
}

/**
 * A fact source that runs on its own schedule: the agent's samples carry its latest snapshot.
 * It never throws out of its loop: a failure is a state in its facts (unknown, error) with the reason.
 */
export interface FactSource<K extends SourceFact = SourceFact> {
  readonly fact: K;
  start(): void;
  stop(): Promise<void>;
  /** The latest results, exactly as the sample carries them; undefined before the first. */
  snapshot(): NonNullable<Sample[K]> | undefined;
}

/** Builds a source from the agent config, or returns undefined when the config asks for none. */
export type SourceFactory = (config: AgentConfig, ctx: SourceContext) => FactSource | undefined;
