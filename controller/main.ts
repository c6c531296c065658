import { watch, type FSWatcher } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LAAS_VERSION, errorMessage, type Logger, type Sample } from '../protocol/index.js';
import { AlertManager, type AlertRule, type Transition } from './alerts/manager.js';
import { Api, ApiError } from './api/server.js';
import type { ControllerConfig } from './config.js';
import { HealDispatcher } from './heal/dispatcher.js';
import { HostRegistry } from './hosts/registry.js';
import { LinkServer } from './link/server.js';
import { createMetrics } from './metrics.js';
import { Notifications, type AlertNotice } from './notify/index.js';
import { Evaluator, factsOf, type HostView } from './rules/evaluate.js';
import { formatRuleError, loadRules, type RuleError } from './rules/load.js';
import { ruleSchema, type Rule } from './rules/schema.js';
import { LowdbStore } from './store/lowdb.js';
import type { AlertRecord } from './store/store.js';
import { zodIssues } from '../protocol/index.js';

export interface Controller {
  readonly port: number;
  readonly url: string;
  reloadRules(): Promise<{ ok: boolean; rules: number; errors: RuleError[] }>;
  stop(): Promise<void>;
}

export interface ControllerOptions {
  log: Logger;
  clock?: () => number;
  /** Watch the rules dir and reload on change (default true). */
  watchRules?: boolean;
}

const HOST_DOWN: AlertRule = {
  id: 'builtin/host-down', name: 'host-down', namespace: 'builtin', severity: 'critical', forMs: 0,
  summary: 'host {{host}} stopped reporting', description: 'The agent sent nothing within the host-down deadline.', labels: {},
};

/** Builds the controller's parts, wires them and starts them; stop() undoes it in reverse. */
export async function startController(config: ControllerConfig, opts: ControllerOptions): Promise<Controller> {
  const { log } = opts;
  const clock = opts.clock ?? Date.now;
  const startedAt = clock();
  const metrics = createMetrics();
  const store = await LowdbStore.open({ dataDir: config.dataDir, log, metrics });
  const receivers = new Set(Object.keys(config.receivers));
  const notifications = new Notifications({ receivers: config.receivers, log, metrics });
  const hosts = new HostRegistry({ store, metrics, clock, downAfterMs: config.hostDownAfterMs, startedAt });
  await hosts.restore();

  let rules: readonly Rule[] = [];
  let evaluator = new Evaluator([]);
  const ruleById = new Map<string, Rule>();

  const externalUrl = () => config.externalUrl ?? `http://${config.listen.host}:${port}`;
  const notice = (a: AlertRecord): AlertNotice => ({
    id: a.id, status: a.state === 'resolved' ? 'resolved' : 'firing', rule: a.rule, host: a.host, severity: a.severity,
    labels: a.labels, annotations: { summary: a.summary, ...(a.description ? { description: a.description } : {}) },
    startsAt: a.firedAt ?? a.startsAt, endsAt: a.endsAt, fingerprint: a.fingerprint,
  });

  const onTransition = ({ alert, from, to }: Transition) => {
    metrics.alertTransitions.inc({ rule: alert.rule, state: to });
    if (from) metrics.alertsActive.dec({ rule: alert.rule, severity: alert.severity, state: from });
    if (to !== 'resolved') metrics.alertsActive.inc({ rule: alert.rule, severity: alert.severity, state: to });
    void store.putAlert(alert);
    // Pending alerts that clear were never shown to anyone: no notice for them.
    if (to === 'pending' || (to === 'resolved' && from === 'pending')) return;
    log.info({ alert: alert.id, rule: alert.rule, host: alert.host, state: to }, `alert ${to}`);
    const targets = alert.rule === HOST_DOWN.id ? [...receivers] : ruleById.get(alert.rule)?.notify ?? [];
    for (const receiver of targets) {
      notifications.send({
        receiver, status: to === 'resolved' ? 'resolved' : 'firing', alerts: [notice(alert)],
        groupKey: `{}:{alertname="${alert.labels.alertname}",host="${alert.host}"}`,
        groupLabels: { alertname: alert.labels.alertname, host: alert.host }, externalUrl: externalUrl(),
      });
    }
  };
  const alerts = new AlertManager({ onTransition });
  const openAlerts = await store.listAlerts();
  alerts.restore(openAlerts.filter((a) => a.state !== 'resolved'));
  for (const a of alerts.list()) metrics.alertsActive.inc({ rule: a.rule, severity: a.severity, state: a.state });

  const link: LinkServer = new LinkServer({
    tokens: config.agentTokens, log, metrics,
    handlers: {
      async hello(_session, hello) {
        await hosts.connected(hello);
        return { hostId: hello.agentId, controllerVersion: LAAS_VERSION };
      },
      connected(session) {
        if (session.hostId) heal.resend(session.hostId);
      },
      async sample(session, sample) {
        metrics.samplesReceived.inc({ trigger: sample.trigger });
        await onSample(session.hostId!, sample);
      },
      async ack(session, body) {
        await heal.onAck(session.hostId!, body.id);
      },
      async result(session, result) {
        if (!(await heal.onResult(session.hostId!, result))) log.warn({ host: session.hostId, id: result.id }, 'result for an unknown work order; acknowledged and dropped');
      },
      disconnected(session) {
        void hosts.disconnected(session.hostId!);
      },
    },
  });
  const heal = new HealDispatcher({ store, metrics, log, clock, send: (host, run) => link.sendRun(host, run) });
  await heal.restore();

  async function onSample(hostId: string, sample: Sample): Promise<void> {
    const now = clock();
    const host = hosts.get(hostId);
    if (!host) return;
    if (await hosts.seen(hostId, now)) {
      const down = alerts.get(HOST_DOWN.id, hostId);
      if (down) alerts.resolve(down, now);
    }
    const view: HostView = { id: host.id, labels: host.labels };
    const started = performance.now();
    const verdicts = await evaluator.evaluate(view, factsOf(view, sample));
    metrics.ruleEvalSeconds.observe((performance.now() - started) / 1000);
    // The agent's sample time marks the fault, unless its clock is clearly off.
    const faultAt = Math.abs(sample.ts - now) < 60_000 ? Math.min(sample.ts, now) : now;
    for (const [ruleId, holds] of verdicts) {
      const rule = ruleById.get(ruleId);
      if (!rule) continue;
      const t = alerts.observe(alertRule(rule), view, holds, now);
      if (t && t.to === 'firing' && rule.heal) {
        const order = await heal.request(rule, t.alert, faultAt);
        if (order) { alerts.linkHeal(t.alert, order.id); await store.putAlert(t.alert); }
      }
    }
  }

  function applyRules(next: readonly Rule[]): void {
    const now = clock();
    const ids = new Set(next.map((r) => r.id));
    for (const a of alerts.list()) if (a.rule !== HOST_DOWN.id && !ids.has(a.rule)) alerts.resolve(a, now);
    rules = next;
    ruleById.clear();
    for (const r of next) ruleById.set(r.id, r);
    evaluator = new Evaluator(next);
    metrics.rulesLoaded.set(next.length);
  }

  async function reloadRules(): Promise<{ ok: boolean; rules: number; errors: RuleError[] }> {
    const loaded = loadRules([config.rulesDir], { receivers });
    if (loaded.errors.length) {
      metrics.rulesReloads.inc({ outcome: 'failed' });
      for (const e of loaded.errors) log.error({ code: e.code, file: e.file, pointer: e.pointer }, formatRuleError(e));
      log.error(`rules reload failed (${loaded.errors.length} error${loaded.errors.length > 1 ? 's' : ''}); keeping the previous ${rules.length} rules`);
      return { ok: false, rules: rules.length, errors: loaded.errors };
    }
    applyRules(loaded.rules);
    metrics.rulesReloads.inc({ outcome: 'ok' });
    log.info({ rules: loaded.rules.length, files: loaded.files }, 'rules loaded');
    return { ok: true, rules: loaded.rules.length, errors: [] };
  }

  const first = await reloadRules();
  if (!first.ok) log.warn('starting with no rules until the rule files are fixed; run "laas rules validate" to see every error');

  const api = new Api(config.apiTokens, log);
  const listFilter = (q: URLSearchParams, keys: string[]) => Object.fromEntries(keys.filter((k) => q.get(k)).map((k) => [k, q.get(k)!]));
  api
    .route('GET', '/healthz', 'public', async () => ({ body: { status: 'ok', version: LAAS_VERSION, agents: link.size, rules: rules.length } }))
    .route('GET', '/metrics', 'public', async () => ({ body: await metrics.registry.metrics(), contentType: metrics.registry.contentType }))
    .route('GET', '/api/v1/hosts', 'viewer', async () => ({ body: hosts.list() }))
    .route('GET', '/api/v1/hosts/{id}', 'viewer', async (r) => ({ body: hosts.list().find((h) => h.id === r.params.id) ?? notFound('host', r.params.id) }))
    .route('GET', '/api/v1/alerts', 'viewer', async (r) => ({ body: await store.listAlerts({ ...listFilter(r.query, ['state', 'host']), limit: limitOf(r.query) }) }))
    .route('GET', '/api/v1/alerts/{id}', 'viewer', async (r) => ({ body: (await store.getAlert(r.params.id)) ?? notFound('alert', r.params.id) }))
    .route('GET', '/api/v1/heals', 'viewer', async (r) => ({ body: await store.listHeals({ ...listFilter(r.query, ['state', 'host', 'rule']), limit: limitOf(r.query) }) }))
    .route('GET', '/api/v1/heals/{id}', 'viewer', async (r) => ({ body: (await store.getHeal(r.params.id)) ?? notFound('work order', r.params.id) }))
    .route('GET', '/api/v1/rules', 'viewer', async () => ({ body: rules.map((r) => ({ id: r.id, namespace: r.namespace, name: r.name, file: r.file, severity: r.severity, heal: r.heal ?? null })) }))
    .route('POST', '/api/v1/rules/reload', 'admin', async () => {
      const out = await reloadRules();
      return { status: out.ok ? 200 : 422, body: { ...out, errors: out.errors.map((e) => ({ ...e, text: formatRuleError(e) })) } };
    })
    .route('POST', '/api/v1/rules/validate', 'viewer', async (r) => {
      const parsed = ruleSchema.safeParse(r.body);
      const errors = parsed.success ? [] : zodIssues(parsed.error);
      return { status: errors.length ? 422 : 200, body: { valid: errors.length === 0, errors } };
    });

  const server: Server = createServer((req, res) => { void api.handle(req, res); });
  server.on('upgrade', (req, socket, head) => {
    if (!link.handleUpgrade(req, socket, head)) socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ listen: `${config.listen.host}:${port}`, dataDir: config.dataDir, rulesDir: config.rulesDir, rules: rules.length }, 'controller started');

  const sweep = setInterval(() => {
    void hosts.sweep().then((down) => {
      const now = clock();
      for (const h of down) alerts.observe(HOST_DOWN, { id: h.id, labels: h.labels }, true, now);
    }).catch((e) => log.error({ err: errorMessage(e) }, 'host sweep failed'));
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
    url: `http://${config.listen.host}:${port}`,
    reloadRules,
    async stop() {
      watcher?.close();
      clearInterval(sweep);
      heal.close();
      await link.close();
      await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); });
      await notifications.close();
      await store.close();
      log.info('controller stopped');
    },
  };
}

function alertRule(rule: Rule): AlertRule {
  return { id: rule.id, name: rule.name, namespace: rule.namespace, severity: rule.severity, forMs: rule.for, summary: rule.summary, description: rule.description, labels: rule.labels };
}

function notFound(kind: string, id: string): never {
  throw new ApiError(404, 'API_NOT_FOUND', `no ${kind} ${JSON.stringify(id)}`);
}

function limitOf(q: URLSearchParams): number | undefined {
  const n = Number(q.get('limit'));
  return Number.isInteger(n) && n > 0 ? Math.min(n, 10_000) : undefined;
}
