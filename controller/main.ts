import { watch, type FSWatcher } from 'node:fs';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { LAAS_VERSION, LaasError, errorMessage, signRun, validate, type Logger } from '../protocol/index.js';
import { zDuration, zIdentifier, zodIssues, zodValidator } from '../protocol/zod.js';
import { AgentAuth, type Identity } from './security/agents.js';
import { AuditLog } from './security/audit.js';
import { ClusterSecret } from './security/cluster-secret.js';
import { HelloRefusals } from './security/hello-refusals.js';
import { loadOrCreateSigningKey, sharedSigningKey } from './security/keys.js';
import { PostgresStore } from './store/postgres.js';
import { Cluster, RemoteError } from './cluster/cluster.js';
import { Coordinator } from './cluster/coordinator.js';
import { clusterFleet } from './cluster/fleet.js';
import { AGENTS_CHANGED, sharedStore } from './cluster/shared-store.js';
import { hostname } from 'node:os';
import type { Store } from './store/store.js';
import { SIGNING_KEY_STATE } from './store/migrate.js';
import { AuthFailures } from './security/rate-limit.js';
import { Maintenance } from './alerts/maintenance.js';
import { matcherSchema } from './alerts/silences.js';
import { NotificationLog } from './notify/log.js';
import { Api, ApiError } from './api/server.js';
import { realClock, type Clock } from './clock.js';
import type { ControllerConfig } from './config.js';
import { LinkServer, type Session } from './link/server.js';
import { createMetrics } from './metrics.js';
import { Notifications } from './notify/index.js';
import { Core } from './core.js';
import { formatRuleError, loadRules, type RuleError } from './rules/load.js';
import { ruleSchema } from './rules/schema.js';
import { Scheduler } from './scheduler.js';
import { openStore } from './store/open.js';

export interface Controller {
  readonly port: number;
  readonly url: string;
  /** The instruction-signing public key (PEM) agents pin. */
  readonly signingKey: string;
  reloadRules(): Promise<{ ok: boolean; rules: number; errors: RuleError[] }>;
  stop(): Promise<void>;
}

export interface ControllerOptions {
  log: Logger;
  clock?: Clock;
  /** Watch the rules dir and reload on change (default true). */
  watchRules?: boolean;
}


/** Builds the controller's parts, wires them and starts them; stop() undoes it in reverse. */
export async function startController(config: ControllerConfig, opts: ControllerOptions): Promise<Controller> {
  const { log } = opts;
  const clock = opts.clock ?? realClock;
  checkListenSafety(config, log);
  const metrics = createMetrics({ facts: { hosts: config.metrics.maxHostsWithFacts } });
  const store = await openStore(config, { log, metrics });
  // The data dir still holds this controller's own files (the audit log) when records are in PostgreSQL.
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  let secret: ClusterSecret | undefined;
  if (store instanceof PostgresStore) {
    if (!config.cluster.secret) {
      await store.close();
      throw new LaasError('CONFIG_INVALID', 'the PostgreSQL store needs "cluster": {"secret": …}: the same secret of at least 32 characters on every controller sharing the database', '/cluster/secret');
    }
    secret = new ClusterSecret(config.cluster.secret);
  }
  // Before joining the cluster: a controller whose secret cannot open the shared key takes no part at all.
  const signing = store instanceof PostgresStore
    ? await sharedSigningKey(store, SIGNING_KEY_STATE, secret!, log).catch(async (e: unknown) => { await store.close(); throw e; })
    : loadOrCreateSigningKey(config.dataDir);
  // Several controllers on one PostgreSQL: every controller on it takes part (one is a cluster of one).
  let cluster: Cluster | undefined;
  let coordinator: Coordinator | undefined;
  let parts: Store = store;
  if (store instanceof PostgresStore) {
    const id = config.cluster.id ?? `${hostname()}:${config.listen.port}`;
    cluster = await Cluster.start({
      store, id, url: config.externalUrl ?? `${config.tls ? 'https' : 'http'}://${config.listen.host}:${config.listen.port}`, log,
      heartbeatMs: config.cluster.heartbeatMs, expireMs: config.cluster.expireAfterMs, secret: secret!,
      onAdopted: (hosts) => coordinator!.adopted(hosts), onLost: (hosts) => coordinator!.lost(hosts),
      onRejected: (reason) => metrics.clusterMessagesRejected.inc({ reason }),
    });
    parts = sharedStore(store, id, (key) => cluster!.broadcast('state', { key }));
  }
  const audit = new AuditLog(config.dataDir);
  // Failed authentication per source, apart for the agent link and the API: a revoked agent
  // hammering the link must not lock its operators out of the API from the same address.
  const linkFailures = new AuthFailures();
  const authFailures = new AuthFailures();
  const agentAuth = new AgentAuth(parts, config.agentTokens);
  await agentAuth.restore();
  const refusals = new HelloRefusals({ audit: (e) => audit.add(e), count: (reason) => metrics.hellosRefused.inc({ reason }), log });
  /** Each connected host's session, to re-check its credential when credentials change. */
  const sessions = new Map<string, Session>();
  const receivers = new Set(Object.keys(config.receivers));
  const notificationLog = new NotificationLog(parts);
  await notificationLog.restore();
  const notifications = new Notifications({ receivers: config.receivers, log, metrics, onAttempt: (e) => notificationLog.add(e) });
  let port = config.listen.port;

  // The link and the pipeline call each other; the link is built first, its handlers reach
  // the pipeline once it exists (no message can arrive before the server listens).
  let pipeline!: Core;
  const link: LinkServer = new LinkServer({
    identify: (token) => agentAuth.identify(token), authFailures: linkFailures, log, metrics,
    heartbeatMs: config.link.heartbeatMs, maxBufferedBytes: config.link.maxBufferedBytes,
    rate: { perSecond: config.link.maxFramesPerSecond, burst: config.link.frameBurst },
    queue: { maxFrames: config.link.maxQueuedFrames, maxBytes: config.link.maxQueuedBytes }, maxPendingHellosPerSource: config.link.maxPendingHellosPerSource,
    onRefused: (remote, reason) => audit.add({ who: '-', role: 'agent', from: remote, action: 'agent link', target: '/v1/agent', result: 'denied', detail: reason }),
    handlers: {
      hello: async (session, hello) => {
        // Who may speak for this id is decided before anything is recorded about it.
        const refused = await agentAuth.admit(session.identity, hello, session.remote);
        if (refused) throw refusals.refuse(refused, hello.agentId, session.remote, describe(session.identity));
        const welcome = await pipeline.hello(hello);
        await coordinator?.claim(hello.agentId);
        return { ...welcome, signingKey: signing.publicKeyPem };
      },
      connected: (session) => {
        sessions.set(session.hostId!, session);
        // Revoked (or enrolled) while this hello was on its way: the check of changes may have run before the link was here.
        if (!agentAuth.stillValid(session.identity, session.hostId!)) link.disconnect(session.hostId!, 'credential no longer valid');
        pipeline.connected(session.hostId!);
      },
      sample: async (session, sample) => { await coordinator?.ready(session.hostId!); await pipeline.sample(session.hostId!, sample); },
      ack: async (session, body) => { await coordinator?.ready(session.hostId!); await pipeline.ack(session.hostId!, body.id); },
      async result(session, result) {
        await coordinator?.ready(session.hostId!);
        if (result.outcome === 'refused' && result.error && /^ACTION_(BAD_SIGNATURE|NO_SIGNING_KEY|REPLAYED|DEADLINE_PASSED)$/.test(result.error.code)) {
          audit.add({ who: session.hostId!, role: 'agent', from: session.remote, action: 'instruction refused', target: result.id, result: 'denied', detail: `${result.error.code}: ${result.error.message}` });
        }
        if (!(await pipeline.result(session.hostId!, result))) log.warn({ host: session.hostId, id: result.id }, 'result for an unknown work order; acknowledged and dropped');
        // The ack lets the agent forget the result: it must be on disk first.
        await store.flush();
      },
      disconnected: (session) => {
        if (sessions.get(session.hostId!) === session) sessions.delete(session.hostId!);
        void pipeline.disconnected(session.hostId!);
      },
    },
  });
  pipeline = await Core.create({
    store: parts, metrics, log, clock, receivers,
    ...(cluster ? { fleet: clusterFleet(cluster) } : {}),
    // Every instruction leaves signed; agents that pin the key refuse anything else.
    send: (host, run) => link.sendRun(host, { ...run, sig: signRun(run, signing.privateKey) }),
    requestSample: (host) => { link.send(host, 'collect', { reason: 'verify' }); },
    deliver: (n) => notifications.send(n),
    hostDownAfterMs: config.hostDownAfterMs,
    fleetLimit: config.heal.maxConcurrent,
    externalUrl: () => config.externalUrl ?? `${config.tls ? 'https' : 'http'}://${config.listen.host}:${port}`,
    route: config.route,
    maintenance: new Maintenance(config.maintenance),
    logNotification: (e) => notificationLog.add(e),
  });
  const scheduler = new Scheduler({ log, run: (rule, fireAt) => pipeline.runSchedule(rule, fireAt) });
  if (cluster) {
    coordinator = new Coordinator({
      cluster, pipeline: () => pipeline, log,
      read: { heal: (id) => store.getHeal(id), alert: (id) => store.getAlert(id) },
      disconnect: (host, reason) => { link.disconnect(host, reason); },
      reloadState: async (key) => {
        if (key === 'pause') await pipeline.heal.reloadPause();
        else if (key === 'silences') await pipeline.alerting.reloadSilences();
        else if (key === AGENTS_CHANGED) await recheckAgents();
      },
    });
    cluster.run();
  }
  /**
   * Credentials changed (here, on another controller, or seen by the poll): links whose identity
   * no longer holds are closed — a revoked agent, a shared token on an id now enrolled.
   */
  async function recheckAgents(): Promise<void> {
    await agentAuth.refresh();
    // Every link, not only the changed ids: a change may have reached the cache another way (a hello's read, enroll, revoke).
    for (const [host, session] of sessions) {
      if (agentAuth.stillValid(session.identity, host)) continue;
      const why = session.identity.kind === 'agent' ? 'credential revoked' : 'agent id enrolled; only its own credential may use it';
      link.disconnect(host, why);
      log.warn({ agent: host, why }, 'agent link closed: its credential changed');
    }
  }
  /** After an enrollment or revocation here: the change is made, so a failed re-check is logged, not answered as a failure (the poll retries). */
  const recheckNow = () => recheckAgents().catch((e: unknown) => log.warn({ err: errorMessage(e) }, 'checking agent links after a credential change failed; the next check retries'));
  // A NOTIFY can be lost (the listener reconnecting): credentials are also polled, so a revocation
  // made through another controller takes effect within a heartbeat or two regardless.
  const credentialPoll = cluster ? setInterval(() => { recheckAgents().catch((e) => log.warn({ err: errorMessage(e) }, 'checking agent credentials failed; retrying')); }, config.cluster.heartbeatMs) : undefined;
  credentialPoll?.unref();

  /** An operator's action on a host's record runs where the host is owned (see controller/cluster). */
  const onOwner = async <T>(host: string | undefined, req: Parameters<Coordinator['onOwner']>[1], local: () => Promise<T>): Promise<T> => {
    if (!coordinator || !host) return local();
    try {
      return (await coordinator.onOwner(host, req)) as T;
    } catch (e) {
      if (e instanceof LaasError && e.code === 'HEAL_NOT_FOUND') throw new ApiError(404, 'API_NOT_FOUND', e.message);
      if (e instanceof LaasError && e.code === 'HEAL_NOT_AWAITING_APPROVAL') throw new ApiError(409, 'API_CONFLICT', e.message);
      if (e instanceof RemoteError) {
        if (e.status === 404) throw new ApiError(404, 'API_NOT_FOUND', e.message);
        if (e.status === 409) throw new ApiError(409, 'API_CONFLICT', e.message);
        throw new ApiError(503, 'CLUSTER_OWNER_UNAVAILABLE', e.message);
      }
      throw e;
    }
  };
  const healHost = async (id: string) => (await store.getHeal(id))?.host;

  async function reloadRules(): Promise<{ ok: boolean; rules: number; errors: RuleError[] }> {
    const loaded = loadRules([config.rulesDir], { receivers });
    const current = pipeline.ruleSet.length;
    if (loaded.errors.length) {
      metrics.rulesReloads.inc({ outcome: 'failed' });
      for (const e of loaded.errors) log.error({ code: e.code, file: e.file, pointer: e.pointer }, formatRuleError(e));
      log.error(`rules reload failed (${loaded.errors.length} error${loaded.errors.length > 1 ? 's' : ''}); keeping the previous ${current} rules`);
      return { ok: false, rules: current, errors: loaded.errors };
    }
    pipeline.setRules(loaded.rules);
    scheduler.set(loaded.rules);
    metrics.rulesReloads.inc({ outcome: 'ok' });
    log.info({ rules: loaded.rules.length, files: loaded.files }, 'rules loaded');
    return { ok: true, rules: loaded.rules.length, errors: [] };
  }

  const first = await reloadRules();
  if (!first.ok) log.warn('starting with no rules until the rule files are fixed; run "laas rules validate" to see every error');

  const api = new Api(config.apiTokens, log, { authFailures, audit: (e) => audit.add(e), externalUrl: config.externalUrl });
  // Host inventory and fleet size are in both; "metrics": {"requireToken": true} keeps them to token holders.
  const scrape = config.metrics.requireToken ? 'viewer' : 'public';
  const listFilter = (q: URLSearchParams, keys: string[]) => Object.fromEntries(keys.filter((k) => q.get(k)).map((k) => [k, q.get(k)!]));
  api
    .route('GET', '/healthz', scrape, async () => ({ body: { status: 'ok', version: LAAS_VERSION, agents: link.size, rules: pipeline.ruleSet.length, paused: pipeline.heal.paused() !== null } }))
    .route('GET', '/metrics', scrape, async () => ({ body: metrics.stream(), contentType: metrics.registry.contentType }))
    .route('GET', '/api/v1/hosts', 'viewer', async () => ({ body: cluster ? await store.listHosts() : pipeline.hosts.list() }))
    .route('GET', '/api/v1/hosts/{id}', 'viewer', async (r) => ({ body: (cluster ? await store.getHost(r.params.id) : pipeline.hosts.list().find((h) => h.id === r.params.id)) ?? notFound('host', r.params.id) }))
    .route('GET', '/api/v1/alerts', 'viewer', async (r) => ({ body: await store.listAlerts({ ...listFilter(r.query, ['state', 'host']), limit: limitOf(r.query) }) }))
    .route('POST', '/api/v1/alerts/{id}/ack', 'operator', async (r) => {
      const alert = await onOwner((await store.getAlert(r.params.id))?.host, { kind: 'ack', id: r.params.id, by: r.caller, comment: comment(r.body) },
        () => pipeline.alerting.acknowledge(r.params.id, r.caller, comment(r.body)));
      if (!alert) throw new ApiError(404, 'API_NOT_FOUND', `no open alert ${JSON.stringify(r.params.id)}`);
      return { body: alert };
    })
    .route('GET', '/api/v1/silences', 'viewer', async () => ({ body: pipeline.alerting.listSilences() }))
    .route('POST', '/api/v1/silences', 'operator', async (r) => {
      const input = validate(r.body ?? {}, 'request body', zodValidator(silenceInput), 'API_BAD_REQUEST');
      const now = clock.now();
      const startsAt = input.startsAt ? Date.parse(input.startsAt) : now;
      const endsAt = input.endsAt ? Date.parse(input.endsAt) : startsAt + (input.duration ?? 3_600_000);
      if (!(endsAt > startsAt) || endsAt <= now) throw new ApiError(400, 'API_BAD_REQUEST', 'a silence must end after it starts, and in the future');
      return { status: 201, body: await pipeline.alerting.addSilence({ matchers: input.matchers, startsAt, endsAt, createdBy: r.caller, comment: input.comment, pauseHeals: input.pauseHeals }) };
    })
    .route('DELETE', '/api/v1/silences/{id}', 'operator', async (r) => {
      if (!(await pipeline.alerting.expireSilence(r.params.id, r.caller))) throw new ApiError(404, 'API_NOT_FOUND', `no active or pending silence ${JSON.stringify(r.params.id)}`);
      return { body: { expired: r.params.id } };
    })
    .route('GET', '/api/v1/notifications', 'viewer', async (r) => ({ body: notificationLog.list({ receiver: r.query.get('receiver') ?? undefined, outcome: r.query.get('outcome') ?? undefined, limit: limitOf(r.query) }) }))
    .route('GET', '/api/v1/alerts/{id}', 'viewer', async (r) => ({ body: (await store.getAlert(r.params.id)) ?? notFound('alert', r.params.id) }))
    .route('GET', '/api/v1/heals', 'viewer', async (r) => ({ body: await store.listHeals({ ...listFilter(r.query, ['state', 'host', 'rule']), limit: limitOf(r.query) }) }))
    .route('GET', '/api/v1/heals/{id}', 'viewer', async (r) => ({ body: (await store.getHeal(r.params.id)) ?? notFound('work order', r.params.id) }))
    .route('GET', '/api/v1/rules', 'viewer', async () => ({ body: pipeline.ruleSet.map((r) => ({ id: r.id, namespace: r.namespace, name: r.name, file: r.file, severity: r.severity, mode: r.effectiveMode, schedule: r.schedule ?? null, heal: r.heal ?? null })) }))
    .route('POST', '/api/v1/rules/reload', 'admin', async () => {
      const out = await reloadRules();
      return { status: out.ok ? 200 : 422, body: { ...out, errors: out.errors.map((e) => ({ ...e, text: formatRuleError(e) })) } };
    })
    .route('POST', '/api/v1/heals/{id}/approve', 'operator', async (r) => ({ body: await onOwner(await healHost(r.params.id), { kind: 'approve', id: r.params.id, by: r.caller, comment: comment(r.body) },
      () => decided(() => pipeline.heal.approve(r.params.id, r.caller, comment(r.body)))) }))
    .route('POST', '/api/v1/heals/{id}/reject', 'operator', async (r) => ({ body: await onOwner(await healHost(r.params.id), { kind: 'reject', id: r.params.id, by: r.caller, comment: comment(r.body) },
      () => decided(() => pipeline.heal.reject(r.params.id, r.caller, comment(r.body)))) }))
    .route('GET', '/api/v1/pause', 'viewer', async () => ({ body: { paused: pipeline.heal.paused() } }))
    .route('POST', '/api/v1/pause', 'operator', async (r) => ({ body: { paused: await pipeline.heal.pause(r.caller, comment(r.body, 'reason')) } }))
    .route('DELETE', '/api/v1/pause', 'operator', async (r) => { await pipeline.heal.resume(r.caller); return { body: { paused: null } }; })
    .route('GET', '/api/v1/breakers', 'viewer', async () => ({ body: pipeline.heal.breakerList() }))
    .route('POST', '/api/v1/breakers/reset', 'operator', async (r) => {
      const b = r.body as { rule?: unknown; host?: unknown } | undefined;
      if (typeof b?.rule !== 'string' || typeof b.host !== 'string') throw new ApiError(400, 'API_BAD_REQUEST', 'body must be {"rule": "<namespace>/<name>", "host": "<host id>"}');
      const rule = b.rule;
      const host = b.host;
      if (!(await onOwner(host, { kind: 'breaker-reset', rule, host, by: r.caller }, () => pipeline.heal.resetBreaker(rule, host, r.caller)))) throw new ApiError(404, 'API_NOT_FOUND', `no open circuit breaker for ${b.rule} on ${b.host}`);
      return { body: { reset: true, rule: b.rule, host: b.host } };
    })
    .route('POST', '/api/v1/rules/{namespace}/{name}/run', 'operator', async (r) => {
      const id = `${r.params.namespace}/${r.params.name}`;
      if (!pipeline.rule(id)?.schedule) throw new ApiError(404, 'API_NOT_FOUND', `no scheduled rule ${JSON.stringify(id)}`);
      return { body: await pipeline.runSchedule(id) };
    })
    .route('POST', '/v1/enroll', 'public', async (r) => {
      const b = validate(r.body ?? {}, 'request body', zodValidator(enrollInput), 'API_BAD_REQUEST');
      const out = await agentAuth.enroll(b.token, b.agentId, r.remote);
      if ('error' in out) {
        authFailures.fail(r.remote);
        audit.add({ who: b.agentId, role: 'agent', from: r.remote, action: 'enroll', target: b.agentId, result: 'denied', detail: out.error, unauthenticated: true });
        throw new ApiError(403, 'ENROLL_FAILED', out.error);
      }
      audit.add({ who: b.agentId, role: 'agent', from: r.remote, action: 'enroll', target: b.agentId, result: 'ok' });
      log.info({ agent: b.agentId, from: r.remote }, 'agent enrolled');
      await recheckNow();
      return { status: 201, body: { agentId: b.agentId, credential: out.credential, signingKey: signing.publicKeyPem } };
    })
    // Public by nature: agents on a shared token pin it (laas signing-key; fetch it over TLS).
    .route('GET', '/v1/signing-key', 'public', async () => ({ body: { algorithm: 'ed25519', signingKey: signing.publicKeyPem } }))
    .route('GET', '/api/v1/agents', 'admin', async () => ({ body: (await agentAuth.list()).map((a) => ({ ...a, connected: link.isConnected(a.id) })) }))
    .route('DELETE', '/api/v1/agents/{id}', 'admin', async (r) => {
      if (!(await agentAuth.revoke(r.params.id, r.caller))) throw new ApiError(404, 'API_NOT_FOUND', `no enrolled, unrevoked agent ${JSON.stringify(r.params.id)}`);
      await recheckNow();
      log.warn({ agent: r.params.id, by: r.caller }, 'agent credential revoked; disconnected');
      return { body: { revoked: r.params.id } };
    })
    .route('DELETE', '/api/v1/agents/{id}/claim', 'admin', async (r) => {
      const out = await agentAuth.forget(r.params.id);
      if (out === 'enrolled') throw new ApiError(409, 'API_CONFLICT', `agent ${JSON.stringify(r.params.id)} is enrolled; revoke it first (laas agents revoke ${r.params.id})`);
      if (out === 'unknown') throw new ApiError(404, 'API_NOT_FOUND', `no claim of agent id ${JSON.stringify(r.params.id)}`);
      // The link on it now would claim the id again at its next hello; it has to start over like any other.
      if (sessions.get(r.params.id)?.identity.kind === 'shared') link.disconnect(r.params.id, 'agent id forgotten by an operator');
      log.warn({ agent: r.params.id, by: r.caller }, 'agent id forgotten: the next hello as it claims it');
      return { body: { forgotten: r.params.id } };
    })
    .route('POST', '/api/v1/enroll-tokens', 'admin', async (r) => {
      const b = validate(r.body ?? {}, 'request body', zodValidator(enrollTokenInput), 'API_BAD_REQUEST');
      const out = await agentAuth.createEnrollToken({ uses: b.uses, ttlMs: b.ttl, createdBy: r.caller });
      return { status: 201, body: { token: out.token, ...out.info } };
    })
    .route('GET', '/api/v1/audit', 'admin', async (r) => ({ body: audit.tail(limitOf(r.query) ?? 100, { unauthenticated: r.query.get('unauthenticated') !== 'false' }) }))
    .route('POST', '/api/v1/rules/validate', 'viewer', async (r) => {
      const parsed = ruleSchema.safeParse(r.body);
      const errors = parsed.success ? [] : zodIssues(parsed.error);
      return { status: errors.length ? 422 : 200, body: { valid: errors.length === 0, errors } };
    });

  const handler = (req: IncomingMessage, res: ServerResponse) => { void api.handle(req, res); };
  const server: Server = config.tls
    ? createHttpsServer({ cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) }, handler)
    : createServer(handler);
  server.on('upgrade', (req, socket, head) => {
    if (!link.handleUpgrade(req, socket, head)) socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A herd of agents reconnecting overflows Node's default accept queue (511): their SYNs are
    // dropped and retried seconds later. The kernel caps this at net.core.somaxconn.
    server.listen({ port: config.listen.port, host: config.listen.host, backlog: 4096 }, () => { server.off('error', reject); resolve(); });
  });
  port = (server.address() as AddressInfo).port;
  log.info({ listen: `${config.listen.host}:${port}`, tls: Boolean(config.tls), dataDir: config.dataDir, rulesDir: config.rulesDir, rules: pipeline.ruleSet.length }, 'controller started');

  const sweep = setInterval(() => {
    pipeline.sweep().catch((e) => log.error({ err: errorMessage(e) }, 'host sweep failed'));
  }, Math.min(1000, Math.max(100, config.hostDownAfterMs / 4)));
  sweep.unref();

  let watcher: FSWatcher | undefined;
  if (opts.watchRules !== false) {
    let debounce: NodeJS.Timeout | undefined;
    try {
      watcher = watch(config.rulesDir, { recursive: true }, () => {
        clearTimeout(debounce);
        debounce = setTimeout(() => void reloadRules(), 300);
      });
      watcher.on('error', (e) => log.warn({ err: errorMessage(e) }, 'rules dir watch failed; reload with SIGHUP or POST /api/v1/rules/reload'));
    } catch (e) {
      log.warn({ err: errorMessage(e) }, 'cannot watch the rules dir; reload with SIGHUP or POST /api/v1/rules/reload');
    }
  }

  return {
    port,
    signingKey: signing.publicKeyPem,
    url: `${config.tls ? 'https' : 'http'}://${config.listen.host}:${port}`,
    reloadRules,
    async stop() {
      watcher?.close();
      clearInterval(sweep);
      clearInterval(credentialPoll);
      scheduler.stop();
      pipeline.close();
      await link.close();
      await cluster?.stop();
      await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); });
      await notifications.close();
      await store.close();
      audit.close();
      log.info('controller stopped');
    },
  };
}

/** What said hello, for the audit and log: which shared token, or which credential. */
function describe(identity: Identity): string {
  return identity.kind === 'shared' ? `shared token ${identity.token.where} (${identity.token.name})` : `credential of agent ${identity.id}`;
}

/** Approve/reject errors as API errors: 404 for no such order, 409 when it is not waiting. */
async function decided<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof LaasError && e.code === 'HEAL_NOT_FOUND') throw new ApiError(404, 'API_NOT_FOUND', e.message);
    if (e instanceof LaasError && e.code === 'HEAL_NOT_AWAITING_APPROVAL') throw new ApiError(409, 'API_CONFLICT', e.message);
    throw e;
  }
}

const enrollInput = z.strictObject({
  token: z.string().min(1).max(200),
  agentId: zIdentifier,
  hostname: z.string().max(255).optional(),
});

const enrollTokenInput = z.strictObject({
  uses: z.number().int().min(1).max(10_000).default(1),
  ttl: zDuration.default(3_600_000),
});

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/**
 * Plain http/ws beyond loopback would carry tokens and instructions in the clear; an API with no
 * tokens beyond loopback would make everyone who reaches it admin.
 */
function checkListenSafety(config: ControllerConfig, log: Logger): void {
  if (LOOPBACK.test(config.listen.host)) return;
  const where = `${config.listen.host}:${config.listen.port}`;
  if (!config.tls && !config.insecure) {
    throw new LaasError('CONFIG_INSECURE_LISTEN', `refusing to listen on ${where} without TLS: set "tls": {"cert", "key"} (make them with "laas certs init"), or "insecure": true if something else encrypts the link`);
  }
  if (config.apiTokens.length === 0) {
    throw new LaasError('CONFIG_OPEN_API', `refusing to listen on ${where} with no "apiTokens": anyone reaching it would be admin. Add "apiTokens": [{"name": "ops", "token": {"file": "/etc/laas/api-token"}, "role": "admin"}] (the CLI sends it from LAAS_TOKEN), or listen on 127.0.0.1`);
  }
  if (!config.tls) log.warn({ listen: where }, 'INSECURE: listening beyond loopback without TLS ("insecure": true) — agent tokens, API tokens and instructions cross the network in the clear');
}

const silenceInput = z.strictObject({
  matchers: z.array(matcherSchema).min(1, 'a silence needs at least one matcher, e.g. "host=web-1"'),
  startsAt: z.iso.datetime({ offset: true }).optional(),
  endsAt: z.iso.datetime({ offset: true }).optional(),
  duration: zDuration.optional(),
  comment: z.string().max(1000).default(''),
  pauseHeals: z.boolean().default(false),
});

function comment(body: unknown, field = 'comment'): string {
  const v = (body as Record<string, unknown> | undefined)?.[field];
  return typeof v === 'string' ? v.slice(0, 1000) : '';
}

function notFound(kind: string, id: string): never {
  throw new ApiError(404, 'API_NOT_FOUND', `no ${kind} ${JSON.stringify(id)}`);
}

function limitOf(q: URLSearchParams): number | undefined {
  const n = Number(q.get('limit'));
  return Number.isInteger(n) && n > 0 ? Math.min(n, 10_000) : undefined;
}
