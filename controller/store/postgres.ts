import pg from 'pg';
import { LaasError, errorMessage, type Logger } from '../../protocol/index.js';
import type { Metrics } from '../metrics.js';
import { IDENTITY_MIGRATION, PostgresIdentity } from './postgres-identity.js';
import { inTransaction } from './pg-transaction.js';
import { RETENTION_MIGRATION, pruneHistory, type Pruned, type RetentionOptions } from './postgres-retention.js';
import type { AgentClaim, AgentCredentialRecord, AlertRecord, AlertState, EnrollTokenRecord, HealRecord, HealState, HostRecord, Store } from './store.js';

export interface PostgresStoreOptions {
  url: string;
  log: Logger;
  metrics?: Metrics;
  /** Connections in the pool (default 5). */
  poolSize?: number;
  /** Attempts per write before it is given up and reported by the next flush (default 8, ~15 s). */
  writeAttempts?: number;
  /** How often history past `retention.maxHistory` is pruned (default 60 s; 0 = never, e.g. for a one-off copy). */
  pruneEveryMs?: number;
  retention?: Partial<RetentionOptions>;
}

/**
 * Numbered migrations, applied in order on start, each once (schema_migrations). Never edit one
 * that has shipped: add the next number. Timestamps stay ISO text (COLLATE "C") so ordering is
 * byte order, exactly as the lowdb store sorts them.
 */
export const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'records',
    sql: `
      CREATE TABLE laas_hosts (id text COLLATE "C" PRIMARY KEY, doc jsonb NOT NULL);
      CREATE TABLE laas_alerts (
        id text COLLATE "C" PRIMARY KEY, state text NOT NULL, host text COLLATE "C" NOT NULL,
        starts_at text COLLATE "C" NOT NULL, ends_at text COLLATE "C", doc jsonb NOT NULL);
      CREATE INDEX laas_alerts_order ON laas_alerts (starts_at DESC, id DESC);
      CREATE INDEX laas_alerts_state ON laas_alerts (state, starts_at DESC);
      CREATE INDEX laas_alerts_host ON laas_alerts (host, starts_at DESC);
      CREATE TABLE laas_heals (
        id text COLLATE "C" PRIMARY KEY, state text NOT NULL, host text COLLATE "C" NOT NULL, rule text COLLATE "C" NOT NULL,
        created_at text COLLATE "C" NOT NULL, finished_at text COLLATE "C", doc jsonb NOT NULL);
      CREATE INDEX laas_heals_order ON laas_heals (created_at DESC, id DESC);
      CREATE INDEX laas_heals_state ON laas_heals (state, created_at DESC);
      CREATE INDEX laas_heals_host ON laas_heals (host, created_at DESC);
      CREATE INDEX laas_heals_rule ON laas_heals (rule, created_at DESC);
      CREATE TABLE laas_state (key text COLLATE "C" PRIMARY KEY, value jsonb NOT NULL);`,
  },
  {
    version: 2,
    name: 'cluster',
    sql: `
      CREATE TABLE laas_controllers (id text COLLATE "C" PRIMARY KEY, url text NOT NULL, started_at timestamptz NOT NULL DEFAULT now(), heartbeat_at timestamptz NOT NULL DEFAULT now());
      CREATE TABLE laas_host_owners (host text COLLATE "C" PRIMARY KEY, controller text COLLATE "C" NOT NULL, since timestamptz NOT NULL DEFAULT now());
      CREATE INDEX laas_host_owners_controller ON laas_host_owners (controller);
      CREATE TABLE laas_job_runs (job text COLLATE "C" NOT NULL, fire_at text COLLATE "C" NOT NULL, host text COLLATE "C" NOT NULL, controller text NOT NULL, claimed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (job, fire_at, host));`,
  },
  { version: 3, name: 'agent identities as rows', sql: IDENTITY_MIGRATION },
  { version: 4, name: 'retention indexes', sql: RETENTION_MIGRATION },
];

/** Key of the advisory lock migrations run under, so controllers starting together take turns. */
const MIGRATION_LOCK = 0x1aa5_0001;

type Table = 'laas_hosts' | 'laas_alerts' | 'laas_heals' | 'laas_state';

/**
 * The store on PostgreSQL, for a controller that must outlive its machine or share the fleet
 * with others. Each record is a JSONB document beside the columns the list filters use. A put
 * is sent at once and writes of one record keep their order; flush() resolves when every write
 * made before it is committed (PostgreSQL's commit is durable), and rejects if one failed.
 */
export class PostgresStore implements Store {
  readonly pool: pg.Pool;
  /** The last write queued for each record: later writes of it wait for it (order kept). */
  private readonly chains = new Map<string, Promise<void>>();
  private failed: { key: string; err: string }[] = [];
  private closed = false;
  private readonly identity: PostgresIdentity;
  private pruneTimer: NodeJS.Timeout | undefined;
  private pruning: Promise<unknown> = Promise.resolve();

  private constructor(private readonly opts: PostgresStoreOptions) {
    this.pool = new pg.Pool({ connectionString: opts.url, max: opts.poolSize ?? 5, connectionTimeoutMillis: 10_000 });
    // An idle connection that breaks (server restart) must not crash the controller.
    this.pool.on('error', (e) =>
      opts.log.warn({ err: errorMessage(e), db: describeUrl(opts.url) }, 'idle PostgreSQL connection failed; the pool opens a new one'),
    );
    this.identity = new PostgresIdentity(this.pool);
  }

  /** Connects, applies missing migrations, and returns the store; a clear error if it cannot. */
  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    const store = new PostgresStore(opts);
    try {
      await migrate(store.pool, opts.log);
    } catch (e) {
      await store.pool.end().catch(() => undefined);
      throw connectError(e, opts.url);
    }
    const every = opts.pruneEveryMs ?? 60_000;
    if (every > 0) {
      store.pruneTimer = setInterval(() => {
        store.pruning = store.prune().catch((e) => opts.log.warn({ err: errorMessage(e) }, 'pruning old history failed; retrying next round'));
      }, every);
      store.pruneTimer.unref();
    }
    return store;
  }

  /**
   * One round of retention (what the timer runs): resolved alerts and finished work orders past
   * the cap go oldest first, a bounded number of rows per round; open records are never dropped.
   */
  async prune(): Promise<Pruned | undefined> {
    if (this.closed) return undefined;
    const r = this.opts.retention ?? {};
    const out = await pruneHistory(this.pool, {
      maxHistory: r.maxHistory ?? 10_000,
      batch: r.batch ?? 1000,
      maxBatches: r.maxBatches ?? 10,
      jobRunsKeepHours: r.jobRunsKeepHours ?? 24,
    });
    if (out && out.alerts + out.heals + out.jobRuns > 0) this.opts.log.info(out, 'pruned old history from PostgreSQL');
    return out;
  }

  async listHosts(): Promise<HostRecord[]> {
    await this.settled('laas_hosts');
    return (await this.query<{ doc: HostRecord }>('SELECT doc FROM laas_hosts ORDER BY id')).map((r) => r.doc);
  }

  async getHost(id: string): Promise<HostRecord | undefined> {
    return this.getDoc<HostRecord>('laas_hosts', id);
  }

  putHost(host: HostRecord): Promise<void> {
    return this.write('laas_hosts', host.id, 'INSERT INTO laas_hosts (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc', [
      host.id,
      json(host),
    ]);
  }

  async listAlerts(filter: { state?: AlertState; host?: string; limit?: number } = {}): Promise<AlertRecord[]> {
    await this.settled('laas_alerts');
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.state) {
      params.push(filter.state);
      where.push(`state = $${params.length}`);
    }
    if (filter.host) {
      params.push(filter.host);
      where.push(`host = $${params.length}`);
    }
    return (
      await this.query<{ doc: AlertRecord }>(
        `SELECT doc FROM laas_alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY starts_at DESC, id DESC${limit(filter.limit, params)}`,
        params,
      )
    ).map((r) => r.doc);
  }

  async getAlert(id: string): Promise<AlertRecord | undefined> {
    return this.getDoc<AlertRecord>('laas_alerts', id);
  }

  putAlert(a: AlertRecord): Promise<void> {
    return this.write(
      'laas_alerts',
      a.id,
      `INSERT INTO laas_alerts (id, state, host, starts_at, ends_at, doc) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, host = EXCLUDED.host, starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, doc = EXCLUDED.doc`,
      [a.id, a.state, a.host, a.startsAt, a.endsAt, json(a)],
    );
  }

  async listHeals(filter: { state?: HealState; host?: string; rule?: string; since?: string; limit?: number } = {}): Promise<HealRecord[]> {
    await this.settled('laas_heals');
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.state) {
      params.push(filter.state);
      where.push(`state = $${params.length}`);
    }
    if (filter.host) {
      params.push(filter.host);
      where.push(`host = $${params.length}`);
    }
    if (filter.rule) {
      params.push(filter.rule);
      where.push(`rule = $${params.length}`);
    }
    if (filter.since) {
      params.push(filter.since);
      where.push(`created_at >= $${params.length}`);
    }
    return (
      await this.query<{ doc: HealRecord }>(
        `SELECT doc FROM laas_heals ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC${limit(filter.limit, params)}`,
        params,
      )
    ).map((r) => r.doc);
  }

  async getHeal(id: string): Promise<HealRecord | undefined> {
    return this.getDoc<HealRecord>('laas_heals', id);
  }

  putHeal(h: HealRecord): Promise<void> {
    return this.write(
      'laas_heals',
      h.id,
      `INSERT INTO laas_heals (id, state, host, rule, created_at, finished_at, doc) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, host = EXCLUDED.host, rule = EXCLUDED.rule, created_at = EXCLUDED.created_at, finished_at = EXCLUDED.finished_at, doc = EXCLUDED.doc`,
      [h.id, h.state, h.host, h.rule, h.createdAt, h.finishedAt, json(h)],
    );
  }

  async getState<T>(key: string): Promise<T | undefined> {
    await this.chains.get(chainKey('laas_state', key));
    const rows = await this.query<{ value: T }>('SELECT value FROM laas_state WHERE key = $1', [key]);
    return rows[0]?.value;
  }

  putState(key: string, value: unknown): Promise<void> {
    if (value === undefined) return this.write('laas_state', key, 'DELETE FROM laas_state WHERE key = $1', [key]);
    return this.write('laas_state', key, 'INSERT INTO laas_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value', [
      key,
      json(value),
    ]);
  }

  /** Sets a state record only if none exists; returns the one stored (ours, or the one that won). */
  async putStateIfAbsent<T>(key: string, value: T): Promise<T> {
    await this.settled('laas_state');
    await this.query('INSERT INTO laas_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [key, json(value)]);
    return (await this.query<{ value: T }>('SELECT value FROM laas_state WHERE key = $1', [key]))[0].value;
  }

  addEnrollToken(token: EnrollTokenRecord, now: string): Promise<void> {
    return this.guard(() => this.identity.addEnrollToken(token, now));
  }
  enrollAgent(input: Parameters<Store['enrollAgent']>[0]) {
    return this.guard(() => this.identity.enrollAgent(input));
  }
  listAgentCredentials(sinceRev?: number): Promise<AgentCredentialRecord[]> {
    return this.guard(() => this.identity.listAgentCredentials(sinceRev));
  }
  getAgentCredential(id: string) {
    return this.guard(() => this.identity.getAgentCredential(id));
  }
  revokeAgentCredential(id: string, by: string, at: string) {
    return this.guard(() => this.identity.revokeAgentCredential(id, by, at));
  }
  getAgentClaim(id: string) {
    return this.guard(() => this.identity.getAgentClaim(id));
  }
  claimAgentId(claim: AgentClaim, maxIds: number) {
    return this.guard(() => this.identity.claimAgentId(claim, maxIds));
  }
  forgetAgentClaim(id: string) {
    return this.guard(() => this.identity.forgetAgentClaim(id));
  }

  /** Replaces a state record only while it still holds `expected` (compare and set); false when it did not. */
  async replaceStateIf(key: string, expected: unknown, next: unknown): Promise<boolean> {
    await this.settled('laas_state');
    const r = await this.guard(() => this.pool.query('UPDATE laas_state SET value = $3 WHERE key = $1 AND value = $2', [key, json(expected), json(next)]));
    return (r.rowCount ?? 0) > 0;
  }

  /** Drops dead row versions of the state table now (e.g. a secret just overwritten), where the user may. */
  async vacuumState(): Promise<void> {
    await this.pool.query('VACUUM laas_state');
  }

  /** Several records changed together: all of them or none (used by migrate and the cluster). */
  async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    await this.settled();
    return inTransaction(this.pool, fn);
  }

  async flush(): Promise<void> {
    await this.settled();
    if (this.failed.length) {
      const failed = this.failed;
      this.failed = [];
      throw new LaasError(
        'STORE_WRITE_FAILED',
        `${failed.length} write${failed.length > 1 ? 's' : ''} to PostgreSQL failed (first: ${failed[0].key}: ${failed[0].err}); check the database at ${describeUrl(this.opts.url)} is up and writable`,
      );
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.pruneTimer);
    await this.pruning;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      await this.pool.end();
    }
  }

  // --- inside ---

  private async getDoc<T>(table: Table, id: string): Promise<T | undefined> {
    await this.chains.get(chainKey(table, id));
    const rows = await this.query<{ doc: T }>(`SELECT doc FROM ${table} WHERE id = $1`, [id]);
    return rows[0]?.doc;
  }

  /** A direct (not queued) operation, its failure as a LaasError that says where and what to check. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw connectError(e, this.opts.url);
    }
  }

  private async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, params)).rows;
    } catch (e) {
      throw connectError(e, this.opts.url);
    }
  }

  /**
   * Queues one record's write behind the previous write of the same record, retrying a failing
   * one with backoff. The promise never rejects (callers may fire and forget); a write that
   * finally fails is logged, counted, and makes the next flush() reject.
   */
  private write(table: Table, id: string, sql: string, params: unknown[]): Promise<void> {
    if (this.closed) return Promise.reject(new LaasError('STORE_WRITE_FAILED', `the store is closed; ${table} ${id} was not written`));
    const key = chainKey(table, id);
    const attempts = this.opts.writeAttempts ?? 8;
    const run = async () => {
      for (let attempt = 1; ; attempt++) {
        const started = performance.now();
        try {
          await this.pool.query(sql, params);
          this.opts.metrics?.storeWriteSeconds.observe((performance.now() - started) / 1000);
          return;
        } catch (e) {
          this.opts.metrics?.storeWriteErrors.inc();
          const err = errorMessage(e);
          if (attempt >= attempts || this.closed) {
            this.opts.log.error({ record: key, err, db: describeUrl(this.opts.url) }, 'store write to PostgreSQL failed; giving up on it');
            this.failed.push({ key, err });
            return;
          }
          this.opts.log.warn({ record: key, err, attempt }, 'store write to PostgreSQL failed; retrying');
          await new Promise((r) => setTimeout(r, Math.min(4000, 100 * 2 ** attempt)));
        }
      }
    };
    const next = (this.chains.get(key) ?? Promise.resolve()).then(run);
    this.chains.set(key, next);
    void next.then(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
    return next;
  }

  /** Waits for every queued write (of one table, or all). */
  private async settled(table?: Table): Promise<void> {
    for (;;) {
      const pending = [...this.chains.entries()].filter(([k]) => !table || k.startsWith(`${table}\u0000`)).map(([, p]) => p);
      if (!pending.length) return;
      await Promise.all(pending);
    }
  }
}

/** Applies the missing migrations in one transaction, under an advisory lock. */
export async function migrate(pool: pg.Pool, log: Logger): Promise<number[]> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    const newest = Math.max(0, ...done);
    const known = MIGRATIONS[MIGRATIONS.length - 1].version;
    if (newest > known) {
      throw new LaasError(
        'STORE_SCHEMA_NEWER',
        `the database schema is at version ${newest}, newer than this laas knows (${known}); upgrade this controller to the release the others run`,
      );
    }
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      try {
        await client.query(m.sql);
      } catch (e) {
        throw new LaasError('STORE_MIGRATION_FAILED', `migration ${m.version} (${m.name}) failed: ${errorMessage(e)}; nothing of it was applied`);
      }
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
    if (applied.length) log.info({ applied }, 'store migrations applied');
    return applied;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}

/** A PostgreSQL failure as a LaasError that says where and what to check (no password in it). */
export function connectError(e: unknown, url: string): Error {
  if (e instanceof LaasError) return e;
  const err = e as NodeJS.ErrnoException & { code?: string };
  const where = describeUrl(url);
  switch (err.code) {
    case 'ECONNREFUSED':
      return new LaasError(
        'STORE_UNAVAILABLE',
        `cannot connect to PostgreSQL at ${where}: connection refused — is the server running and listening on that host and port (listen_addresses, port in postgresql.conf)?`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new LaasError('STORE_UNAVAILABLE', `cannot connect to PostgreSQL at ${where}: the host name does not resolve — check "store.url"`);
    case 'ETIMEDOUT':
      return new LaasError('STORE_UNAVAILABLE', `cannot connect to PostgreSQL at ${where}: timed out — check the host, port and any firewall between`);
    case '28P01':
    case '28000':
      return new LaasError(
        'STORE_UNAVAILABLE',
        `PostgreSQL at ${where} refused the login (${err.message}) — check the user and password in "store.url" and pg_hba.conf`,
      );
    case '3D000':
      return new LaasError('STORE_UNAVAILABLE', `PostgreSQL at ${where}: ${err.message} — create it first (createdb) or fix the database name in "store.url"`);
    default:
      if (/timeout|terminated|Connection terminated/i.test(errorMessage(e))) {
        return new LaasError('STORE_UNAVAILABLE', `PostgreSQL at ${where}: ${errorMessage(e)} — check the server is up and reachable`);
      }
      return e instanceof Error ? e : new Error(String(e));
  }
}

/** user@host:port/db of a connection URL, without its password. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    const host = u.hostname || u.searchParams.get('host') || 'localhost';
    return `${u.username ? `${decodeURIComponent(u.username)}@` : ''}${host}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return 'the configured database (the URL does not parse)';
  }
}

/**
 * JSON text jsonb takes. It refuses the escapes of NUL and of a lone surrogate, and a write it
 * refuses fails every flush after it; those characters become U+FFFD here (the agent link already
 * refuses or replaces them; this covers text from anywhere else, e.g. a comment given to the API).
 * An escaped backslash before "u0000" is text, not an escape: kept.
 */
const json = (v: unknown): string => {
  const s = JSON.stringify(v);
  return s.includes('\\u') ? s.replace(/(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/g, '$1\\ufffd') : s;
};
const chainKey = (table: Table, id: string): string => `${table}\u0000${id}`;

function limit(n: number | undefined, params: unknown[]): string {
  if (n === undefined) return '';
  params.push(n);
  return ` LIMIT $${params.length}`;
}
