import type { ProbeKind } from '../config.js';
import type { Probe } from './types.js';
import { probe as http } from './http.js';
import { probe as pidfile } from './pidfile.js';
import { probe as processProbe } from './process.js';
import { probe as systemd } from './systemd.js';
import { probe as tcp } from './tcp.js';

export type { Held, Probe, ProbeResult } from './types.js';

/** The probe registry: one line per kind a service may be watched by. */
export const PROBES: Readonly<Record<ProbeKind, Probe>> = {
  tcp,
  http,
  systemd,
  process: processProbe,
  pidfile,
};
