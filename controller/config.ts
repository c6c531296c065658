import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { durationSchema, loadJsonFile, resolveSecret, secretSchema, validate } from '../protocol/index.js';
import { maintenanceSchema, type MaintenanceWindow } from './alerts/maintenance.js';
import { rootRouteSchema, type Route } from './alerts/routes.js';
import { receiverSchema } from './notify/index.js';

const listenSchema = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'expected "host:port", e.g. "127.0.0.1:7070"');

export const controllerConfigSchema = z.strictObject({
  listen: listenSchema.default('127.0.0.1:7070'),
  dataDir: z.string().min(1).default('./data'),
  rulesDir: z.string().min(1).default('./rules'),
  /** Shared agent tokens (simple setups); enrolled agents use their own credentials instead. */
  agentTokens: z.array(secretSchema).default([]),
  /** Serve https/wss from this certificate (laas certs init makes one). */
  tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
  /** Allow plain http/ws on a non-loopback address (only when something else encrypts the link). */
  insecure: z.boolean().default(false),
  apiTokens: z.array(z.strictObject({
    name: z.string().min(1),
    token: secretSchema,
    role: z.enum(['viewer', 'operator', 'admin']),
  })).default([]),
  receivers: z.record(z.string().min(1), receiverSchema).default({}),
  /** A host that sends nothing for this long is down (raises host-down). */
  hostDownAfter: durationSchema.default(30_000),
  /** Fleet-wide brakes on automatic heals. */
  heal: z.strictObject({
    /** Hosts healed at once across every rule: a count, or a share of all hosts ("20%"). */
    maxConcurrent: z.union([z.number().int().min(1), z.string().regex(/^(100|[1-9]?\d)(\.\d+)?%$/, 'expected a whole number of hosts or a percentage like "20%"')]).default('50%'),
  }).prefault({}),
  /** Which receivers hear of which alerts, and how alerts are grouped (Alertmanager-style). */
  route: rootRouteSchema.optional(),
  /** Maintenance windows: no pages and no automatic heals for the hosts they cover. */
  maintenance: z.array(maintenanceSchema).default([]),
  /** Base URL people reach this controller at; used in notification links. */
  externalUrl: z.url().optional(),
  /** /metrics size: past this many hosts, host facts are exported as fleet summaries only. */
  metrics: z.strictObject({
    maxHostsWithFacts: z.number().int().min(0).max(100_000).default(1000),
  }).prefault({}),
}).superRefine((c, ctx) => {
  const known = new Set(Object.keys(c.receivers));
  const walk = (r: Route, path: (string | number)[]) => {
    if (r.receiver && !known.has(r.receiver)) ctx.addIssue({ code: 'custom', path: [...path, 'receiver'], message: `unknown receiver "${r.receiver}" (defined: ${[...known].join(', ') || 'none'})` });
    r.routes.forEach((child, i) => walk(child, [...path, 'routes', i]));
  };
  if (c.route) walk(c.route, ['route']);
  const names = new Set<string>();
  c.maintenance.forEach((w, i) => {
    if (names.has(w.name)) ctx.addIssue({ code: 'custom', path: ['maintenance', i, 'name'], message: `duplicate maintenance window name "${w.name}"` });
    names.add(w.name);
  });
});

export interface ControllerConfig {
  listen: { host: string; port: number };
  dataDir: string;
  rulesDir: string;
  agentTokens: string[];
  apiTokens: { name: string; token: string; role: 'viewer' | 'operator' | 'admin' }[];
  receivers: Record<string, { type: string }>;
  hostDownAfterMs: number;
  heal: { maxConcurrent: number | string };
  tls?: { cert: string; key: string };
  insecure: boolean;
  route?: Route;
  maintenance: MaintenanceWindow[];
  externalUrl?: string;
  metrics: { maxHostsWithFacts: number };
}

export function parseControllerConfig(value: unknown, where: string): ControllerConfig {
  const c = validate(value, where, controllerConfigSchema);
  const i = c.listen.lastIndexOf(':');
  return {
    listen: { host: c.listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(c.listen.slice(i + 1)) },
    dataDir: c.dataDir,
    rulesDir: c.rulesDir,
    agentTokens: c.agentTokens.map((t, n) => resolveSecret(t, `${where} /agentTokens/${n}`)),
    apiTokens: c.apiTokens.map((t, n) => ({ ...t, token: resolveSecret(t.token, `${where} /apiTokens/${n}/token`) })),
    receivers: c.receivers,
    hostDownAfterMs: c.hostDownAfter,
    heal: { maxConcurrent: c.heal.maxConcurrent },
    tls: c.tls,
    insecure: c.insecure,
    route: c.route,
    maintenance: c.maintenance,
    externalUrl: c.externalUrl,
    metrics: { maxHostsWithFacts: c.metrics.maxHostsWithFacts },
  };
}

/** Loads controller.json; relative dataDir and rulesDir are taken from the file's folder. */
export function loadControllerConfig(file: string): ControllerConfig {
  const config = parseControllerConfig(loadJsonFile(file, z.unknown()), file);
  const at = (p: string) => resolve(dirname(file), p);
  return {
    ...config, dataDir: at(config.dataDir), rulesDir: at(config.rulesDir),
    ...(config.tls ? { tls: { cert: at(config.tls.cert), key: at(config.tls.key) } } : {}),
  };
}
