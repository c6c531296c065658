import type { AgentConfig } from '../../config.js';
import { ScheduledJobs } from '../scheduled-jobs.js';
import type { FactSource, SourceContext } from '../types.js';
import { readFileCert, readServerCert, type CertFacts } from './read.js';

/** The `cert` fact: days to expiry of each certificate in agent.json's `certs`. */
export function certSource(config: AgentConfig, ctx: SourceContext): FactSource<'cert'> | undefined {
  const certs = config.sources.certs;
  if (certs.length === 0) return undefined;
  const jobs = new ScheduledJobs<CertFacts>(
    certs.map((c) => ({
      name: c.name,
      intervalMs: c.interval,
      run: (signal: AbortSignal) => (c.file !== undefined ? readFileCert({ ...c, file: c.file }) : readServerCert({ ...c, target: c.target! }, signal)),
    })),
    (reason) => ({ error: reason.slice(0, 500) }),
    ctx.log,
  );
  return { fact: 'cert', start: () => jobs.start(), stop: () => jobs.stop(), snapshot: () => jobs.snapshot() };
}
