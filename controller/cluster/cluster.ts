import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { ERROR_CODES, LaasError, errorMessage, type ErrorCode, type Logger } from '../../protocol/index.js';
import type { ClusterSecret } from '../security/cluster-secret.js';
import type { PostgresStore } from '../store/postgres.js';
import { MessageAuth, type Rejection } from './message-auth.js';

/** The one channel controllers talk on; each message names its addressee (or "*" for all). */
const CHANNEL = 'laas_cluster';
/** Advisory lock key of the fleet-wide heal gate (blast radius counted from the database). */
const FLEET_GATE_LOCK = 0x1aa5_0002;

export interface ClusterOptions {
  store: PostgresStore;
  /** This controller's id: stable across restarts, so it gets its own hosts back. */
  id: string;
  /** Where people and agents reach this controller (shown in the controllers table). */
  url: string;
  log: Logger;
  heartbeatMs: number;
  /** A controller whose heartbeat is older than this is dead; its hosts are adopted. */
  expireMs: number;
  /** Told of hosts this controller adopted from a dead one, and of hosts it lost to another. */
  onAdopted?: (hosts: string[]) => Promise<void>;
  onLost?: (hosts: string[]) => Promise<void>;
  /** Authenticates the messages between controllers (the database does not hold it). */
  secret: ClusterSecret;
  /** Told of every message dropped as unauthenticated (counted in /metrics). */
  onRejected?: (reason: Rejection) => void;
}

interface Envelope {
  to: string;
  from: string;
  kind: string;
  req?: string;
  body?: unknown;
}

type Handler = (body: unknown, from: string) => unknown;

/**
 * An error a remote handler threw, carried back to the caller with its code (the API answers it
 * as if it had been thrown here). A peer that did not answer is CLUSTER_OWNER_UNAVAILABLE.
 */
export class RemoteError extends LaasError {}

/** The code of a failed reply: a code this release knows, else (a peer's own failure) the peer is as good as unavailable. */
function replyCode(code: unknown): ErrorCode {
  return typeof code === 'string' && code in ERROR_CODES ? (code as ErrorCode) : 'CLUSTER_OWNER_UNAVAILABLE';
}

/**
 * Several controllers on one PostgreSQL: who is alive (heartbeat rows), which controller owns
 * which host (the one holding its link), messages between controllers (LISTEN/NOTIFY on one
 * channel, addressed by controller id, with request/reply), a fleet-wide gate for brakes that
 * count across controllers (an advisory lock), and once-per-fleet leases for scheduled runs.
 */
export class Cluster {
  private listener: pg.Client | undefined;
  private readonly handlers = new Map<string, Handler>();
  private readonly waiting = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private owned = new Set<string>();
  private heartbeat: NodeJS.Timeout | undefined;
  private gateChain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly auth: MessageAuth;
  /** Per reason: when a dropped message was last logged, and how many were dropped since (logs stay quiet under a flood). */
  private readonly dropLog = new Map<Rejection, { at: number; since: number }>();
  /** Hosts known fleet-wide (refreshed each heartbeat): the base of percentage limits. */
  hostCount = 0;

  private constructor(private readonly opts: ClusterOptions) {
    this.auth = new MessageAuth(opts.secret);
  }

  get id(): string {
    return this.opts.id;
  }

  private get pool(): pg.Pool {
    return this.opts.store.pool;
  }

  static async start(opts: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(opts);
    await c.pool.query(
      'INSERT INTO laas_controllers (id, url) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url, started_at = now(), heartbeat_at = now()',
      [opts.id, opts.url],
    );
    c.owned = new Set((await c.pool.query<{ host: string }>('SELECT host FROM laas_host_owners WHERE controller = $1', [opts.id])).rows.map((r) => r.host));
    c.hostCount = Number((await c.pool.query<{ n: string }>('SELECT count(*) AS n FROM laas_hosts')).rows[0].n);
    await c.listen();
    return c;
  }

  /** Starts the heartbeat (after the core is built: adoption needs it). */
  run(): void {
    const beat = () => {
      this.beat().catch((e) => this.opts.log.warn({ err: errorMessage(e) }, 'cluster heartbeat failed; retrying'));
    };
    this.heartbeat = setInterval(beat, this.opts.heartbeatMs);
    this.heartbeat.unref();
    beat();
  }

  owns(host: string): boolean {
    return this.owned.has(host);
  }

  on(kind: string, handler: Handler): this {
    this.handlers.set(kind, handler);
    return this;
  }

  /** Tells every other controller something (fire and forget). */
  async broadcast(kind: string, body?: unknown): Promise<void> {
    await this.send({ to: '*', from: this.id, kind, body });
  }

  /** Asks one controller to do something and waits for its answer. */
  async call(to: string, kind: string, body: unknown, timeoutMs = 10_000): Promise<unknown> {
    const req = randomUUID();
    const answer = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(req);
        reject(new RemoteError('CLUSTER_OWNER_UNAVAILABLE', `controller ${to} did not answer ${kind} within ${timeoutMs / 1000}s`));
      }, timeoutMs);
      this.waiting.set(req, { resolve, reject, timer });
    });
    await this.send({ to, from: this.id, kind, req, body });
    return answer;
  }

  /**
   * This controller now holds the host's link: it owns the host. Returns the previous owner
   * when that was another controller, and whether it is alive.
   */
  async claimHost(host: string): Promise<{ previous: string; alive: boolean } | undefined> {
    const client = await this.pool.connect();
    let prev: { controller: string; alive: boolean | null } | undefined;
    try {
      await client.query('BEGIN');
      prev = (
        await client.query<{ controller: string; alive: boolean | null }>(
          `SELECT o.controller, c.heartbeat_at > now() - make_interval(secs => $2) AS alive
           FROM laas_host_owners o LEFT JOIN laas_controllers c ON c.id = o.controller WHERE o.host = $1 FOR UPDATE OF o`,
          [host, this.opts.expireMs / 1000],
        )
      ).rows[0];
      await client.query(
        'INSERT INTO laas_host_owners (host, controller) VALUES ($1, $2) ON CONFLICT (host) DO UPDATE SET controller = EXCLUDED.controller, since = now()',
        [host, this.id],
      );
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
    this.owned.add(host);
    return prev && prev.controller !== this.id ? { previous: prev.controller, alive: Boolean(prev.alive) } : undefined;
  }

  /** Who owns a host now, and whether that controller is alive. */
  async ownerOf(host: string): Promise<{ controller: string; alive: boolean } | undefined> {
    const { rows } = await this.pool.query<{ controller: string; alive: boolean | null }>(
      `SELECT o.controller, c.heartbeat_at > now() - make_interval(secs => $2) AS alive
         FROM laas_host_owners o LEFT JOIN laas_controllers c ON c.id = o.controller WHERE o.host = $1`,
      [host, this.opts.expireMs / 1000],
    );
    return rows[0] ? { controller: rows[0].controller, alive: Boolean(rows[0].alive) } : undefined;
  }

  /** Forgets a host another controller took (it told us, or the heartbeat check found it). */
  release(host: string): void {
    this.owned.delete(host);
  }

  /**
   * Of the hosts a scheduled rule fires on at `fireAt`, those this controller may run: a lease
   * row per job, fire time and host, so each host runs once per fire time fleet-wide.
   */
  async claimRuns(job: string, fireAt: string, hosts: string[]): Promise<string[]> {
    if (!hosts.length) return [];
    const { rows } = await this.pool.query<{ host: string }>(
      `INSERT INTO laas_job_runs (job, fire_at, host, controller) SELECT $1, $2, h, $3 FROM unnest($4::text[]) AS h
       ON CONFLICT DO NOTHING RETURNING host`,
      [job, fireAt, this.id, hosts],
    );
    return rows.map((r) => r.host).sort();
  }

  /** Work orders sent and not finished, fleet-wide: what the blast-radius limits count. */
  async inFlight(): Promise<{ host: string; rule: string }[]> {
    return (await this.pool.query<{ host: string; rule: string }>("SELECT DISTINCT host, rule FROM laas_heals WHERE state = 'dispatched'")).rows;
  }

  /**
   * Runs `fn` holding the fleet-wide heal gate: one controller at a time counts in-flight heals
   * and writes its decision, so two controllers cannot both pass the same limit.
   */
  gate<T>(fn: () => Promise<T>): Promise<T> {
    const run = async () => {
      const client = await this.pool.connect();
      try {
        await client.query('SELECT pg_advisory_lock($1)', [FLEET_GATE_LOCK]);
        try {
          return await fn();
        } finally {
          await client.query('SELECT pg_advisory_unlock($1)', [FLEET_GATE_LOCK]);
        }
      } finally {
        client.release();
      }
    };
    // One caller at a time in this process too: advisory locks are re-entrant per session.
    const next = this.gateChain.then(run, run);
    this.gateChain = next.catch(() => undefined);
    return next;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new RemoteError('CLUSTER_OWNER_UNAVAILABLE', 'controller stopping'));
    }
    this.waiting.clear();
    // Leaving on purpose: the others need not wait out expireAfter to adopt what is left.
    await this.pool.query("UPDATE laas_controllers SET heartbeat_at = 'epoch' WHERE id = $1", [this.id]).catch(() => undefined);
    await this.listener?.end().catch(() => undefined);
  }

  // --- inside ---

  private async beat(): Promise<void> {
    await this.pool.query('UPDATE laas_controllers SET heartbeat_at = now() WHERE id = $1', [this.id]);
    this.hostCount = Number((await this.pool.query<{ n: string }>('SELECT count(*) AS n FROM laas_hosts')).rows[0].n);
    // Hosts of controllers whose heartbeat expired: one live controller adopts each (row locks decide).
    const adopted = (
      await this.pool.query<{ host: string }>(
        `UPDATE laas_host_owners o SET controller = $1, since = now()
        WHERE o.controller <> $1 AND NOT EXISTS (SELECT 1 FROM laas_controllers c WHERE c.id = o.controller AND c.heartbeat_at > now() - make_interval(secs => $2))
        RETURNING host`,
        [this.id, this.opts.expireMs / 1000],
      )
    ).rows.map((r) => r.host);
    for (const h of adopted) this.owned.add(h);
    if (adopted.length) {
      this.opts.log.warn({ hosts: adopted.length }, 'adopted the hosts of a controller whose heartbeat expired');
      await this.opts.onAdopted?.(adopted);
    }
    // A take we did not hear of (a notification lost while the listener reconnected).
    const mine = new Set(
      (await this.pool.query<{ host: string }>('SELECT host FROM laas_host_owners WHERE controller = $1', [this.id])).rows.map((r) => r.host),
    );
    const lost = [...this.owned].filter((h) => !mine.has(h));
    for (const h of lost) this.owned.delete(h);
    if (lost.length) await this.opts.onLost?.(lost);
  }

  private async send(msg: Envelope): Promise<void> {
    await this.pool.query('SELECT pg_notify($1, $2)', [CHANNEL, this.auth.seal(msg)]);
  }

  private async listen(): Promise<void> {
    // Named, so a DBA (or a test) can tell each controller's listener in pg_stat_activity.
    const client = new pg.Client({
      connectionString: (this.pool as unknown as { options: { connectionString: string } }).options.connectionString,
      application_name: `laas ${this.id} listener`.slice(0, 63),
    });
    client.on('notification', (n) => {
      if (n.channel === CHANNEL && n.payload) void this.receive(n.payload);
    });
    client.on('error', (e) => this.opts.log.warn({ err: errorMessage(e) }, 'cluster listener connection failed'));
    client.on('end', () => {
      if (this.stopped) return;
      this.opts.log.warn('cluster listener connection closed; reconnecting');
      setTimeout(() => {
        this.listen().catch((e) => this.opts.log.error({ err: errorMessage(e) }, 'cluster listener reconnect failed'));
      }, 1000).unref();
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.listener = client;
  }

  private async receive(payload: string): Promise<void> {
    const opened = this.auth.open(payload);
    if (!opened.ok) {
      this.dropped(opened.reason);
      return;
    }
    const msg = opened.msg as unknown as Envelope;
    if (typeof msg.to !== 'string' || typeof msg.from !== 'string' || typeof msg.kind !== 'string') {
      this.dropped('malformed');
      return;
    }
    if (msg.from === this.id || (msg.to !== '*' && msg.to !== this.id)) return;
    if (msg.kind === 'reply') {
      const w = msg.req ? this.waiting.get(msg.req) : undefined;
      if (!w) return;
      this.waiting.delete(msg.req!);
      clearTimeout(w.timer);
      const b = msg.body as { ok: boolean; value?: unknown; code?: unknown; message?: string };
      if (b.ok) w.resolve(b.value);
      else w.reject(new RemoteError(replyCode(b.code), b.message ?? `controller ${msg.from} failed without a message`));
      return;
    }
    const handler = this.handlers.get(msg.kind);
    if (!handler) {
      this.opts.log.warn({ kind: msg.kind, from: msg.from }, 'cluster message of a kind this controller does not know; dropped (mixed laas versions?)');
      return;
    }
    let body: unknown;
    try {
      body = { ok: true, value: await handler(msg.body, msg.from) };
    } catch (e) {
      // A LaasError keeps its code across (HEAL_NOT_AWAITING_APPROVAL stays a 409 at the API that forwarded it).
      body = { ok: false, code: e instanceof LaasError ? e.code : undefined, message: errorMessage(e) };
      if (!msg.req) this.opts.log.error({ kind: msg.kind, from: msg.from, err: errorMessage(e) }, 'cluster message handler failed');
    }
    if (msg.req)
      await this.send({ to: msg.from, from: this.id, kind: 'reply', req: msg.req, body }).catch((e) =>
        this.opts.log.warn({ err: errorMessage(e) }, 'cluster reply failed'),
      );
  }

  /** A message that is not from a controller with our secret: dropped, counted, logged (at most every 10 s per reason). */
  private dropped(reason: Rejection): void {
    this.opts.onRejected?.(reason);
    const now = Date.now();
    const last = this.dropLog.get(reason);
    if (last && now - last.at < 10_000) {
      last.since++;
      return;
    }
    this.dropLog.set(reason, { at: now, since: 0 });
    const hint =
      reason === 'bad-mac'
        ? 'someone without the cluster secret wrote to the laas_cluster channel, or a controller has another cluster.secret'
        : reason === 'stale'
          ? 'a message too old or from the future: a replay, or controller clocks more than 60 s apart (run NTP)'
          : reason === 'replayed'
            ? 'a message seen before was sent again'
            : 'not a laas cluster message (or from an older laas)';
    this.opts.log.warn({ reason, droppedSinceLastLog: last?.since ?? 0 }, `cluster message dropped: ${hint}`);
  }
}
