import type pg from 'pg';

/** Migration 4: indexes that let retention find the oldest finished records without a scan. */
export const RETENTION_MIGRATION = `
  CREATE INDEX laas_alerts_resolved ON laas_alerts (ends_at, id) WHERE state = 'resolved';
  CREATE INDEX laas_heals_finished ON laas_heals (finished_at, id) WHERE finished_at IS NOT NULL;
  CREATE INDEX laas_job_runs_claimed ON laas_job_runs (claimed_at);`;

/** One controller prunes at a time (the others skip that round). */
const RETENTION_LOCK = 0x1aa5_0005;

export interface RetentionOptions {
  /** Resolved alerts and finished work orders kept, as the embedded store keeps (the oldest go first). */
  maxHistory: number;
  /** Rows deleted per statement, so no prune holds locks on many rows or runs long. */
  batch: number;
  /** Statements per table per round; what is left goes in the next round. */
  maxBatches: number;
  /** Schedule leases older than this are dropped (a fire time long past is never claimed again). */
  jobRunsKeepHours: number;
}

export interface Pruned {
  alerts: number;
  heals: number;
  jobRuns: number;
}

/**
 * The same retention as the embedded store: open alerts and work orders are never dropped;
 * past `maxHistory` resolved alerts or finished work orders, the oldest go, in bounded batches.
 * Returns undefined when another controller holds the retention lock.
 */
export async function pruneHistory(pool: pg.Pool, o: RetentionOptions): Promise<Pruned | undefined> {
  const c = await pool.connect();
  try {
    if (!(await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [RETENTION_LOCK])).rows[0].ok) return undefined;
    try {
      const rounds = async (sql: string, params: unknown[]) => {
        let n = 0;
        for (let i = 0; i < o.maxBatches; i++) {
          const deleted = (await c.query(sql, params)).rowCount ?? 0;
          n += deleted;
          if (deleted < o.batch) break;
        }
        return n;
      };
      const alerts = await rounds(
        `DELETE FROM laas_alerts WHERE id IN (
           SELECT id FROM laas_alerts WHERE state = 'resolved' ORDER BY ends_at NULLS FIRST, id
            LIMIT LEAST($2, GREATEST(0, (SELECT count(*) FROM laas_alerts WHERE state = 'resolved') - $1)))`,
        [o.maxHistory, o.batch],
      );
      const heals = await rounds(
        `DELETE FROM laas_heals WHERE id IN (
           SELECT id FROM laas_heals WHERE finished_at IS NOT NULL ORDER BY finished_at, id
            LIMIT LEAST($2, GREATEST(0, (SELECT count(*) FROM laas_heals WHERE finished_at IS NOT NULL) - $1)))`,
        [o.maxHistory, o.batch],
      );
      const jobRuns = await rounds(
        `DELETE FROM laas_job_runs WHERE ctid IN (
           SELECT ctid FROM laas_job_runs WHERE claimed_at < now() - make_interval(hours => $1) LIMIT $2)`,
        [o.jobRunsKeepHours, o.batch],
      );
      return { alerts, heals, jobRuns };
    } finally {
      await c.query('SELECT pg_advisory_unlock($1)', [RETENTION_LOCK]);
    }
  } finally {
    c.release();
  }
}
