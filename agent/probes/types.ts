// Shared by the registry (index.ts) and its members: members import this, never the registry.

/** A connection (or other handle) a probe keeps open to learn of a fault between looks. */
export interface Held {
  release(): void;
}

export interface ProbeResult {
  up: boolean;
  detail?: string;
  /** Set by a holding probe that is up: the caller releases it when it no longer needs it. */
  held?: Held;
}

/**
 * Looks once at one service. Never throws: a failure to look is a "down" with the reason.
 * `env` is the environment for a probe that runs a command (see child-env.ts).
 */
export type Probe = (target: string, timeoutMs: number, env?: Readonly<Record<string, string>>) => Promise<ProbeResult>;
