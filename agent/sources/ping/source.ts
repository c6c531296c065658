import type { AgentConfig } from '../../config.js';
import { ScheduledJobs } from '../scheduled-jobs.js';
import type { FactSource, SourceContext } from '../types.js';
import { ping, type PingFacts } from './run.js';

/** The `ping` fact: loss and round-trip of each host in agent.json's `pings`. */
export function pingSource(config: AgentConfig, ctx: SourceContext): FactSource<'ping'> | undefined {
  const pings = config.sources.pings;
  if (pings.length === 0) return undefined;
  const jobs = new ScheduledJobs<PingFacts>(
    pings.map((c) => ({ name: c.name, intervalMs: c.interval, run: (signal: AbortSignal) => ping(c, signal, ctx.env) })),
    (reason) => ({ up: false, sent: 0, received: 0, lossPercent: 100, error: reason.slice(0, 500) }),
    ctx.log,
  );
  return { fact: 'ping', start: () => jobs.start(), stop: () => jobs.stop(), snapshot: () => jobs.snapshot() };
}
