import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage, signRun, type Logger, type Sample } from '../protocol/index.js';
import { Maintenance } from './alerts/maintenance.js';
import { checkListenSafety, listen } from './api/listen.js';
import { addRoutes } from './api/routes/index.js';
import { Api } from './api/server.js';
import { realClock, type Clock } from './clock.js';
import { joinCluster } from './cluster/join.js';
import { loadControllerConfig, type ControllerConfig } from './config.js';
import { ConfigReloader, type ConfigReloadOutcome } from './config-reload.js';
import { Core } from './core.js';
import { startRemoteWrite } from './export/index.js';
import { agentHandlers } from './link/handlers.js';
import { LinkServer } from './link/server.js';
import { DEFAULT_FACTS_LIMITS } from './facts-metrics.js';
import { loadWindows } from './history/start-windows.js';
import { createMetrics } from './metrics.js';
import { Notifications } from './notify/index.js';
import { NotificationLog } from './notify/log.js';
import { RuleReloader, type ReloadOutcome } from './rules/reloader.js';
import { saveWindows } from './rules/windows/persist.js';
import { Windows } from './rules/windows/store.js';
import { Scheduler } from './scheduler.js';
import { AgentLinks } from './security/agent-links.js';
import { AgentAuth } from './security/agents.js';
import { AuditLog } from './security/audit.js';
import { HelloRefusals } from './security/hello-refusals.js';
import { loadOrCreateSigningKey } from './security/keys.js';
import { AuthFailures } from './security/rate-limit.js';
import { openStore } from './store/open.js';
import { PostgresStore } from './store/postgres.js';

export interface Controller {
  readonly port: number;
  readonly url: string;
  /** The instruction-signing public key (PEM) agents pin. */
  readonly signingKey: string;
  reloadRules(): Promise<ReloadOutcome>;
  /** Re-reads controller.json (the file it started from): receivers, route, maintenance and inhibit apply at once. */
  reloadConfig(): ConfigReloadOutcome;
  stop(): Promise<void>;
}

export interface ControllerOptions {
  log: Logger;
  clock?: Clock;
  /** Watch the rules dir and reload on change (default true). */
  watchRules?: boolean;
  /** The controller.json the config came from: reloadConfig() reads it again. */
  configFile?: string;
}

/**
 * Builds the controller's parts, wires them and starts them; stop() undoes it in reverse. What
 * each part does is in its folder (docs/design-notes.md has the map); only the order is here.
 */
export async function startController(config: ControllerConfig, opts: ControllerOptions): Promise<Controller> {
  const { log } = opts;
  const clock = opts.clock ?? realClock;
  checkListenSafety(config, log);
  const metrics = createMetrics({ facts: { hosts: config.metrics.maxHostsWithFacts } });
  const db = await openStore(config, { log, metrics });
  // The data dir still holds this controller's own files (the audit log) when records are in PostgreSQL.
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  // Every controller on a PostgreSQL store takes part in its cluster (one alone is a cluster of one).
  const joined = db instanceof PostgresStore ? await joinCluster(config, db, { log, metrics }) : undefined;
  const store = joined?.store ?? db;
  const signing = joined?.signing ?? loadOrCreateSigningKey(config.dataDir);

  const audit = new AuditLog(config.dataDir);
  // Failed authentication per source, apart for the agent link and the API: a revoked agent
  // hammering the link must not lock its operators out of the API from the same address.
  const linkFailures = new AuthFailures();
  const authFailures = new AuthFailures();
  const agentAuth = new AgentAuth(store, config.agentTokens);
  await agentAuth.restore();
  const refusals = new HelloRefusals({ audit: (e) => audit.add(e), count: (reason) => metrics.hellosRefused.inc({ reason }), log });
  const notificationLog = new NotificationLog(store);
  await notificationLog.restore();
  const receivers = new Set(Object.keys(config.receivers));
  const notifications = new Notifications({ receivers: config.receivers, log, metrics, onAttempt: (e) => notificationLog.add(e) });
  let port = config.listen.port;
  // Host facts to Prometheus-compatible stores, the same series as /metrics (controller/export/).
  const remoteWrite = startRemoteWrite(config.remoteWrite, { metrics: metrics.remoteWrite, log, staleAfterMs: DEFAULT_FACTS_LIMITS.staleAfterMs });

  // The link and the core call each other: the link's handlers reach the core once it exists
  // (no message can arrive before the server listens).
  // eslint-disable-next-line prefer-const -- assigned once below, after the link that calls it exists
  let core!: Core;
  const links = new AgentLinks({ auth: agentAuth, refusals, disconnect: (host, why) => link.disconnect(host, why), log });
  const link: LinkServer = new LinkServer({
    identify: (token) => agentAuth.identify(token),
    authFailures: linkFailures,
    log,
    metrics,
    heartbeatMs: config.link.heartbeatMs,
    maxBufferedBytes: config.link.maxBufferedBytes,
    rate: { perSecond: config.link.maxFramesPerSecond, burst: config.link.frameBurst },
    queue: { maxFrames: config.link.maxQueuedFrames, maxBytes: config.link.maxQueuedBytes },
    maxPendingHellosPerSource: config.link.maxPendingHellosPerSource,
    onRefused: (remote, reason) =>
      audit.add({ who: '-', role: 'agent', from: remote, action: 'agent link', target: '/v1/agent', result: 'denied', detail: reason }),
    handlers: agentHandlers({ core: () => core, links, audit: (e) => audit.add(e), signingKeyPem: signing.publicKeyPem, flush: () => db.flush(), log }),
  });
  // Windowed rules' history, kept across restarts: a snapshot in the data dir, else Prometheus.
  const windows = new Windows();
  const windowsFile = join(config.dataDir, 'windows.bin');
  core = await Core.create({
    windows,
    store,
    metrics,
    log,
    clock,
    receivers,
    ...(joined ? { fleet: joined.fleet } : {}),
    // Every instruction leaves signed; agents refuse anything else.
    send: (host, run) => link.sendRun(host, { ...run, sig: signRun(run, signing.privateKey) }),
    requestSample: (host) => {
      link.send(host, 'collect', { reason: 'verify' });
    },
    deliver: (n) => notifications.send(n),
    hostDownAfterMs: config.hostDownAfterMs,
    fleetLimit: config.heal.maxConcurrent,
    externalUrl: () => config.externalUrl ?? `${config.tls ? 'https' : 'http'}://${config.listen.host}:${port}`,
    route: config.route,
    maintenance: new Maintenance(config.maintenance),
    inhibit: config.inhibit,
    logNotification: (e) => notificationLog.add(e),
    ...(remoteWrite ? { onFacts: (host: string, sample: Sample) => remoteWrite.record(host, sample) } : {}),
  });
  const scheduler = new Scheduler({ log, run: (rule, fireAt) => core.runSchedule(rule, fireAt) });
  joined?.run({
    core,
    disconnect: (host, reason) => {
      link.disconnect(host, reason);
    },
    recheckAgents: () => links.recheck(),
  });

  const rules = new RuleReloader({
    dir: config.rulesDir,
    receivers,
    metrics,
    log,
    current: () => core.ruleSet.length,
    apply: (loaded) => {
      core.setRules(loaded);
      scheduler.set(loaded);
    },
  });
  const reloadRules = async () => rules.reload();
  const configReloader = opts.configFile
    ? new ConfigReloader(config, {
        file: opts.configFile,
        load: loadControllerConfig,
        rules: () => core.ruleSet,
        metrics,
        log,
        apply: (next) => {
          // One set, shared with the rule reloader (rules may name only these) and host-down's paging.
          receivers.clear();
          for (const r of Object.keys(next.receivers)) receivers.add(r);
          notifications.setReceivers(next.receivers);
          core.alerting.setRouting({ route: next.route, maintenance: new Maintenance(next.maintenance), inhibit: next.inhibit });
        },
      })
    : undefined;
  const reloadConfig = (): ConfigReloadOutcome =>
    configReloader?.reload() ?? {
      ok: false,
      applied: [],
      needsRestart: [],
      error: 'this controller was not started from a controller.json (laas up): there is no file to reload',
    };
  if (!rules.reload().ok) log.warn('starting with no rules until the rule files are fixed; run "laas rules validate" to see every error');
  // Before the link listens: a sample judged first would make the older history unplaceable.
  await loadWindows(windows, { file: windowsFile, history: config.history, now: clock.now(), log });

  const api = addRoutes(new Api(config.apiTokens, log, { authFailures, audit: (e) => audit.add(e), externalUrl: config.externalUrl }), {
    core,
    store,
    link,
    links,
    agentAuth,
    audit,
    authFailures,
    notificationLog,
    metrics,
    signingKeyPem: signing.publicKeyPem,
    reloadRules,
    reloadConfig,
    clock,
    log,
    // Host inventory and fleet size are in both; "metrics": {"requireToken": true} keeps them to token holders.
    scrape: config.metrics.requireToken ? 'viewer' : 'public',
  });
  const server = await listen(config, api, (req, socket, head) => link.handleUpgrade(req, socket, head));
  port = server.port;
  log.info(
    { listen: `${config.listen.host}:${port}`, tls: Boolean(config.tls), dataDir: config.dataDir, rulesDir: config.rulesDir, rules: core.ruleSet.length },
    'controller started',
  );

  const sweep = setInterval(
    () => {
      core.sweep().catch((e: unknown) => log.error({ err: errorMessage(e) }, 'host sweep failed'));
    },
    Math.min(1000, Math.max(100, config.hostDownAfterMs / 4)),
  );
  sweep.unref();
  if (opts.watchRules !== false) rules.watch();

  return {
    port,
    signingKey: signing.publicKeyPem,
    url: `${config.tls ? 'https' : 'http'}://${config.listen.host}:${port}`,
    reloadRules,
    reloadConfig,
    async stop() {
      rules.stop();
      clearInterval(sweep);
      scheduler.stop();
      core.close();
      await link.close();
      // No sample comes after the link closed: what the windows hold now is what the next start resumes.
      try {
        const saved = saveWindows(windows, windowsFile, clock.now());
        if (saved.series) log.info(saved, 'windows saved');
      } catch (e) {
        log.warn({ file: windowsFile, err: errorMessage(e) }, 'windows not saved: windowed rules start empty next time');
      }
      await joined?.stop();
      await server.close();
      await notifications.close();
      await remoteWrite?.stop();
      await db.close();
      audit.close();
      log.info('controller stopped');
    },
  };
}
