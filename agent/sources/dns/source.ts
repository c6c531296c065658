import type { AgentConfig } from '../../config.js';
import { ScheduledJobs } from '../scheduled-jobs.js';
import type { FactSource, SourceContext } from '../types.js';
import { resolveName, type DnsFacts } from './resolve.js';

/** The `dns` fact: whether each name in agent.json's `dns` resolves, to what, and how fast. */
export function dnsSource(config: AgentConfig, ctx: SourceContext): FactSource<'dns'> | undefined {
  const queries = config.sources.dns;
  if (queries.length === 0) return undefined;
  const jobs = new ScheduledJobs<DnsFacts>(
    queries.map((c) => ({ name: c.name, intervalMs: c.interval, run: (signal: AbortSignal) => resolveName(c, signal) })),
    (reason) => ({ ok: false, answers: [], ms: 0, error: reason.slice(0, 500) }),
    ctx.log,
  );
  return { fact: 'dns', start: () => jobs.start(), stop: () => jobs.stop(), snapshot: () => jobs.snapshot() };
}
