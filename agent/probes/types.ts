// Shared by the registry (index.ts) and its members: members import this, never the registry.

import type { HttpExpect } from '../config.js';

/** A connection (or other handle) a probe keeps open to learn of a fault between looks. */
export interface Held {
  release(): void;
}

export interface ProbeResult {
  up: boolean;
  detail?: string;
  /** What the look measured, when the kind measures it: the service fact carries them (http). */
  latencyMs?: number;
  status?: number;
  /** Set by a holding probe that is up: the caller releases it when it no longer needs it. */
  held?: Held;
  /** Set by a holding probe that is up but could keep nothing open, with the reason (the caller logs it once). */
  notHeld?: string;
}

/**
 * Looks once at one service. Never throws: a failure to look is a "down" with the reason.
 * `env` is the environment for a probe that runs a command (see child-env.ts); `http`, what an
 * http probe expects of the answer beyond the defaults.
 */
export type Probe = (target: string, timeoutMs: number, env?: Readonly<Record<string, string>>, http?: HttpExpect) => Promise<ProbeResult>;
