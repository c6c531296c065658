import type { ProbeKind } from '../config.js';
import { probe as http } from './http.js';
import { probe as processProbe } from './process.js';
import { probe as systemd } from './systemd.js';
import { probe as tcp } from './tcp.js';

export interface ProbeResult { up: boolean; detail?: string }

/** Looks once at one service. Never throws: a failure to look is a "down" with the reason. */
export type Probe = (target: string, timeoutMs: number) => Promise<ProbeResult>;

/** The probe registry: one line per kind a service may be watched by. */
export const PROBES: Readonly<Record<ProbeKind, Probe>> = {
  tcp,
  http,
  systemd,
  process: processProbe,
};
