/** What a load worker counts; the parent sums these over workers. */
export interface LoadStats {
  clients: number;
  /** Clients welcomed and not since dropped, now. */
  connected: number;
  everConnected: number;
  connectAttempts: number;
  connectFailures: number;
  /** Welcomed links that closed later. */
  drops: number;
  samplesSent: number;
  faultsInjected: number;
  runsReceived: number;
  /** Runs that came with no fault outstanding on that client (e.g. a resend after reconnect). */
  runsUnmatched: number;
  resultsSent: number;
  acksReceived: number;
  collectsReceived: number;
  /** Heal dispatch latencies (ms): the faulty sample's send → the run frame's arrival. */
  dispatchMs: number[];
  /** Error kinds → count (HTTP refusals, socket errors, bad frames). */
  errors: Record<string, number>;
}

export interface WorkerStart {
  urls: string[];
  token: string;
  ids: string[];
  labels: Record<string, string>[];
  localAddresses: string[];
  intervalMs: number;
  tickMs: number;
  faultsPerSecond: number;
  connectConcurrency: number;
  extraServices: string[];
}

export type ParentToWorker = { type: 'start'; config: WorkerStart } | { type: 'stats' } | { type: 'faults'; perSecond: number } | { type: 'stop' };

export type WorkerToParent = { type: 'stats' | 'final'; stats: LoadStats };
