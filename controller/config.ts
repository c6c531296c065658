import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { LaasError, readJsonFile, resolveSecret, validate } from '../protocol/index.js';
import { zDuration, zSecret, zodValidator } from '../protocol/zod.js';
import { fromConfig, inhibitSchema, type Inhibition } from './alerts/inhibit.js';
import { maintenanceSchema, type MaintenanceWindow } from './alerts/maintenance.js';
import { remoteWriteSchema, resolveRemoteWrite, type RemoteWriteTarget } from './export/config.js';
import { rootRouteSchema, type Route } from './alerts/routes.js';
import { receiverSchema } from './notify/index.js';
import { DEFAULT_MAX_HOSTS, type SharedTokenConfig } from './security/agent-tokens.js';

/**
 * A shared agent token: a secret (string, {env}, {file}), or an entry that names and restricts
 * it. Which form an object is follows from its "token" field, so each gets its own errors.
 */
const agentTokenEntry = z.strictObject({
  token: zSecret,
  /** Entries with one name are one claimant of ids (rotate a token by adding the new one under the old name). */
  name: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[\w.@-]+$/, 'letters, digits and . @ _ - only')
    .optional(),
  /** Agent ids it may say hello as: exact, or globs where "*" is any run of characters. */
  ids: z.array(z.string().min(1).max(200).regex(/^\S+$/, 'no spaces')).min(1, 'list at least one id or glob, or leave "ids" out').optional(),
  /** Labels its hellos must carry, with exactly these values. */
  labels: z
    .record(z.string().min(1).max(100), z.string().max(200))
    .refine((l) => Object.keys(l).length > 0, 'give at least one label, or leave "labels" out')
    .optional(),
  /** Distinct host ids it may claim; past this a new id is refused. */
  maxHosts: z.number().int().min(1).max(10_000_000).default(DEFAULT_MAX_HOSTS),
});
const agentToken = z.unknown().transform((v, ctx) => {
  const isEntry = typeof v === 'object' && v !== null && !Array.isArray(v) && 'token' in v;
  const r = (isEntry ? agentTokenEntry : zSecret).safeParse(v);
  if (r.success) return typeof r.data === 'object' && 'token' in r.data ? { ...r.data, at: '/token' } : { token: r.data, maxHosts: DEFAULT_MAX_HOSTS, at: '' };
  if (isEntry) for (const issue of r.error.issues) ctx.addIssue(issue as Parameters<typeof ctx.addIssue>[0]);
  else
    ctx.addIssue({
      code: 'custom',
      message: 'expected a token: a string, {"env": "VAR"}, {"file": "/path"}, or {"token": …, "name", "ids", "labels", "maxHosts"}',
    });
  return z.NEVER;
});

const listenSchema = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'expected "host:port", e.g. "127.0.0.1:7070"');

export const controllerConfigSchema = z
  .strictObject({
    listen: listenSchema.default('127.0.0.1:7070'),
    dataDir: z.string().min(1).default('./data'),
    rulesDir: z.string().min(1).default('./rules'),
    /** Shared agent tokens (simple setups); enrolled agents use their own credentials instead. */
    agentTokens: z.array(agentToken).default([]),
    /** Serve https/wss from this certificate (laas certs init makes one). */
    tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
    /** Allow plain http/ws on a non-loopback address (only when something else encrypts the link). */
    insecure: z.boolean().default(false),
    apiTokens: z
      .array(
        z.strictObject({
          name: z.string().min(1),
          token: zSecret,
          role: z.enum(['viewer', 'operator', 'admin']),
        }),
      )
      .default([]),
    receivers: z.record(z.string().min(1), receiverSchema).default({}),
    /** A host that sends nothing for this long is down (raises host-down). */
    hostDownAfter: zDuration.default(30_000),
    /** Bounds on each agent connection: how fast a dead peer is noticed, how much one peer may cost. */
    link: z
      .strictObject({
        /** Ping every agent this often; one that has not answered the previous ping is cut (so within two of these). */
        heartbeat: zDuration.pipe(z.number().min(100, 'must be at least 100ms')).default(15_000),
        /** Bytes queued to one agent that it has not read; past this it is cut (it is not reading). */
        maxBufferedBytes: z
          .number()
          .int()
          .min(1024)
          .max(1024 ** 3)
          .default(8 * 1024 * 1024),
        /** Frames per second one connection may send, on average; frames over it are dropped unread and counted. */
        maxFramesPerSecond: z.number().int().min(1).max(1_000_000).default(100),
        /** Frames one connection may send at once (an agent flushing its buffer after an outage); a peer that has frames dropped past this many more is cut. */
        frameBurst: z.number().int().min(1).max(10_000_000).default(2000),
        /** Frames one connection may have read and waiting for the controller (e.g. on a slow store); past this it is not read until they are handled. */
        maxQueuedFrames: z.number().int().min(1).max(1_000_000).default(256),
        /** The same bound in bytes; at least one largest frame (1 MiB). */
        maxQueuedBytes: z
          .number()
          .int()
          .min(1024 * 1024)
          .max(1024 ** 3)
          .default(4 * 1024 * 1024),
        /** Connections from one address that may wait for their welcome at once; more are refused (429) to retry. */
        maxPendingHellosPerSource: z.number().int().min(1).max(100_000).default(200),
      })
      .prefault({}),
    /** Fleet-wide brakes on automatic heals. */
    heal: z
      .strictObject({
        /** Hosts healed at once across every rule: a count, or a share of all hosts ("20%"). */
        maxConcurrent: z
          .union([z.number().int().min(1), z.string().regex(/^(100|[1-9]?\d)(\.\d+)?%$/, 'expected a whole number of hosts or a percentage like "20%"')])
          .default('50%'),
      })
      .prefault({}),
    /** Which receivers hear of which alerts, and how alerts are grouped (Alertmanager-style). */
    route: rootRouteSchema.optional(),
    /** Maintenance windows: no pages and no automatic heals for the hosts they cover. */
    maintenance: z.array(maintenanceSchema).default([]),
    /** Alertmanager-style inhibition: while a source alert fires, matching targets are not paged and their heals wait. */
    inhibit: z.array(inhibitSchema).default([]),
    /** Base URL people reach this controller at; used in notification links. */
    externalUrl: z.url().optional(),
    /** Where records live: the embedded lowdb file in dataDir (default), or a shared PostgreSQL. */
    store: z
      .discriminatedUnion('type', [
        z.strictObject({
          type: z.literal('lowdb'),
          /** From this file size on, a write-ahead goes to a fsynced journal, not a whole-file rewrite (default 1 MiB; 0 = always). */
          journalAboveBytes: z.number().int().min(0).optional(),
        }),
        z.strictObject({ type: z.literal('postgres'), url: zSecret }),
      ])
      .default({ type: 'lowdb' }),
    /** Several controllers on one PostgreSQL store: this one's identity and liveness timing. */
    cluster: z
      .strictObject({
        /** Stable across restarts (default "<hostname>:<port>"): a restarted controller gets its hosts back. */
        id: z
          .string()
          .min(1)
          .max(200)
          .regex(/^[\w.:@-]+$/, 'letters, digits and . : @ _ - only')
          .optional(),
        heartbeat: zDuration.default(2_000),
        /** A controller silent this long is dead: its hosts and open work orders are adopted. */
        expireAfter: zDuration.default(10_000),
        /**
         * The same on every controller, and NOT in the database: authenticates their messages to each
         * other and encrypts the instruction-signing key they share there.
         */
        secret: zSecret.optional(),
      })
      .optional(),
    /** /metrics size: past this many hosts, host facts are exported as fleet summaries only. */
    metrics: z
      .strictObject({
        maxHostsWithFacts: z.number().int().min(0).max(100_000).default(1000),
        /** /metrics and /healthz need a bearer token (any role) too: they list hosts, labels and fleet size. */
        requireToken: z.boolean().default(false),
      })
      .prefault({}),
    /** Prometheus remote-write targets for host facts (controller/export/). */
    remoteWrite: z.array(remoteWriteSchema).max(10).default([]),
    /**
     * Where windowed rules' history is when no snapshot has it (controller/history/rebuild.ts):
     * a Prometheus holding the laas_host_* series (or node_exporter's), read once at start.
     */
    history: z
      .strictObject({
        prometheus: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL, e.g. "http://127.0.0.1:9090"' }),
        source: z.enum(['laas', 'node']).default('laas'),
        timeout: zDuration.default(30_000),
      })
      .optional(),
  })
  .superRefine((c, ctx) => {
    if (c.cluster && c.store.type !== 'postgres')
      ctx.addIssue({ code: 'custom', path: ['cluster'], message: 'several controllers need a shared store: set "store": {"type": "postgres", "url": ...}' });
    if (c.metrics.requireToken && c.apiTokens.length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['metrics', 'requireToken'],
        message: 'needs "apiTokens" (a viewer token is enough; give Prometheus one as its bearer token)',
      });
    if (c.store.type === 'postgres' && !c.cluster?.secret) ctx.addIssue({ code: 'custom', path: ['cluster', 'secret'], message: CLUSTER_SECRET_HINT });
    if (c.cluster && c.cluster.expireAfter < 3 * c.cluster.heartbeat)
      ctx.addIssue({ code: 'custom', path: ['cluster', 'expireAfter'], message: 'must be at least 3 heartbeats, or a busy controller reads as dead' });
    const known = new Set(Object.keys(c.receivers));
    const walk = (r: Route, path: (string | number)[]) => {
      if (r.receiver && !known.has(r.receiver))
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'receiver'],
          message: `unknown receiver "${r.receiver}" (defined: ${[...known].join(', ') || 'none'})`,
        });
      r.routes.forEach((child, i) => walk(child, [...path, 'routes', i]));
    };
    if (c.route) walk(c.route, ['route']);
    const names = new Set<string>();
    c.maintenance.forEach((w, i) => {
      if (names.has(w.name)) ctx.addIssue({ code: 'custom', path: ['maintenance', i, 'name'], message: `duplicate maintenance window name "${w.name}"` });
      names.add(w.name);
    });
  });

const CLUSTER_SECRET_HINT =
  'required with the PostgreSQL store: a secret of at least 32 characters, the same on every controller sharing the database and kept out of it (it authenticates their messages and encrypts the signing key there), e.g. "cluster": {"secret": {"file": "/etc/laas/cluster.secret"}} with the file made by "openssl rand -base64 32"';
const MIN_SECRET_CHARS = 32;

export interface ControllerConfig {
  listen: { host: string; port: number };
  dataDir: string;
  rulesDir: string;
  agentTokens: SharedTokenConfig[];
  apiTokens: { name: string; token: string; role: 'viewer' | 'operator' | 'admin' }[];
  receivers: Record<string, { type: string }>;
  hostDownAfterMs: number;
  link: {
    heartbeatMs: number;
    maxBufferedBytes: number;
    maxFramesPerSecond: number;
    frameBurst: number;
    maxQueuedFrames: number;
    maxQueuedBytes: number;
    maxPendingHellosPerSource: number;
  };
  heal: { maxConcurrent: number | string };
  tls?: { cert: string; key: string };
  insecure: boolean;
  route?: Route;
  maintenance: MaintenanceWindow[];
  inhibit: Inhibition[];
  externalUrl?: string;
  store: StoreConfig;
  /** `secret` is set whenever the store is PostgreSQL. */
  cluster: { id?: string; heartbeatMs: number; expireAfterMs: number; secret?: string };
  metrics: { maxHostsWithFacts: number; requireToken: boolean };
  remoteWrite: RemoteWriteTarget[];
  history?: { prometheus: string; source: 'laas' | 'node'; timeoutMs: number };
}

export type StoreConfig = { type: 'lowdb'; journalAboveBytes?: number } | { type: 'postgres'; url: string };

export function parseControllerConfig(value: unknown, where: string): ControllerConfig {
  const c = validate(value, where, zodValidator(controllerConfigSchema));
  const i = c.listen.lastIndexOf(':');
  return {
    listen: { host: c.listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(c.listen.slice(i + 1)) },
    dataDir: c.dataDir,
    rulesDir: c.rulesDir,
    agentTokens: resolveAgentTokens(c.agentTokens, where),
    apiTokens: c.apiTokens.map((t, n) => ({ ...t, token: resolveSecret(t.token, `${where} /apiTokens/${n}/token`) })),
    receivers: c.receivers,
    hostDownAfterMs: c.hostDownAfter,
    link: {
      heartbeatMs: c.link.heartbeat,
      maxBufferedBytes: c.link.maxBufferedBytes,
      maxFramesPerSecond: c.link.maxFramesPerSecond,
      frameBurst: c.link.frameBurst,
      maxQueuedFrames: c.link.maxQueuedFrames,
      maxQueuedBytes: c.link.maxQueuedBytes,
      maxPendingHellosPerSource: c.link.maxPendingHellosPerSource,
    },
    heal: { maxConcurrent: c.heal.maxConcurrent },
    tls: c.tls,
    insecure: c.insecure,
    route: c.route,
    maintenance: c.maintenance,
    inhibit: fromConfig(c.inhibit),
    externalUrl: c.externalUrl,
    cluster: {
      id: c.cluster?.id,
      heartbeatMs: c.cluster?.heartbeat ?? 2_000,
      expireAfterMs: c.cluster?.expireAfter ?? 10_000,
      ...(c.cluster?.secret ? { secret: clusterSecret(c.cluster.secret, `${where} /cluster/secret`) } : {}),
    },
    store:
      c.store.type === 'postgres'
        ? { type: 'postgres', url: resolveSecret(c.store.url, `${where} /store/url`) }
        : { type: 'lowdb', journalAboveBytes: c.store.journalAboveBytes },
    metrics: { maxHostsWithFacts: c.metrics.maxHostsWithFacts, requireToken: c.metrics.requireToken },
    remoteWrite: resolveRemoteWrite(c.remoteWrite, where),
    // Always a key (undefined when absent), so a reload notices the section going as well as coming.
    history: c.history ? { prometheus: c.history.prometheus, source: c.history.source, timeoutMs: c.history.timeout } : undefined,
  };
}

function resolveAgentTokens(entries: z.output<typeof agentToken>[], where: string): SharedTokenConfig[] {
  const seen = new Map<string, number>();
  return entries.map((e, n) => {
    const at = `${where} /agentTokens/${n}`;
    const token = resolveSecret(e.token, `${at}${e.at}`);
    const same = seen.get(token);
    if (same !== undefined)
      throw new LaasError('CONFIG_INVALID', `the same token as /agentTokens/${same}; give each token once (several entries may share a "name")`, at);
    seen.set(token, n);
    const { token: _t, at: _a, ...rest } = e;
    return { ...rest, token };
  });
}

function clusterSecret(ref: z.output<typeof zSecret>, where: string): string {
  const secret = resolveSecret(ref, where);
  if (secret.length < MIN_SECRET_CHARS)
    throw new LaasError(
      'CONFIG_INVALID',
      `the cluster secret has ${secret.length} characters; use at least ${MIN_SECRET_CHARS} (e.g. "openssl rand -base64 32")`,
      where,
    );
  return secret;
}

/** Loads controller.json; relative dataDir and rulesDir are taken from the file's folder. */
export function loadControllerConfig(file: string): ControllerConfig {
  const config = parseControllerConfig(readJsonFile(file), file);
  const at = (p: string) => resolve(dirname(file), p);
  return {
    ...config,
    dataDir: at(config.dataDir),
    rulesDir: at(config.rulesDir),
    ...(config.tls ? { tls: { cert: at(config.tls.cert), key: at(config.tls.key) } } : {}),
  };
}
