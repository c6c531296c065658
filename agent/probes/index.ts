import type { ProbeKind } from '../config.js';
import { probe as http } from './http.js';
import { probe as pidfile } from './pidfile.js';
import { probe as processProbe } from './process.js';
import { probe as systemd } from './systemd.js';
import { probe as tcp } from './tcp.js';

/** A connection (or other handle) a probe keeps open to learn of a fault between looks. */
export interface Held { release(): void }

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

/** The probe registry: one line per kind a service may be watched by. */
export const PROBES: Readonly<Record<ProbeKind, Probe>> = {
  tcp,
  http,
  systemd,
  process: processProbe,
  pidfile,
};
