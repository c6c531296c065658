import type { Logger, Sample } from '../../protocol/index.js';
import type { RemoteWriteTarget } from './config.js';
import { LatestFacts } from './latest-facts.js';
import { RemoteWriter, type RemoteWriteMetrics } from './remote-write.js';

export interface RemoteWrite {
  /** Every accepted sample (Core's onFacts). */
  record(host: string, sample: Sample): void;
  stop(): Promise<void>;
}

/** Starts one writer per target, all reading one store of the hosts' latest facts; nothing at all without targets. */
export function startRemoteWrite(
  targets: RemoteWriteTarget[],
  deps: { metrics: RemoteWriteMetrics; log: Logger; staleAfterMs: number; clock?: () => number },
): RemoteWrite | undefined {
  if (targets.length === 0) return undefined;
  const clock = deps.clock ?? Date.now;
  const latest = new LatestFacts(deps.staleAfterMs);
  const writers = targets.map((t) => new RemoteWriter(t, { latest, metrics: deps.metrics, log: deps.log, clock }));
  for (const w of writers) w.start();
  deps.log.info({ remotes: targets.map((t) => t.url.replace(/\/\/[^@/]*@/, '//')) }, 'remote-write started');
  return {
    record: (host, sample) => latest.record(host, sample, clock()),
    stop: async () => {
      await Promise.all(writers.map((w) => w.stop()));
    },
  };
}
