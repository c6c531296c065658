import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { LaasError, deepFreeze, durationSchema, formatDuration, loadJsonFile, resolveSecret, secretSchema, validate } from '../protocol/index.js';

export const PROBE_KINDS = ['tcp', 'http', 'systemd', 'process', 'pidfile'] as const;
export type ProbeKind = (typeof PROBE_KINDS)[number];

/**
 * Builds the agent.json schema. Not kept at module level: the agent validates its config once at
 * start, and zod schemas are heavy (every instance carries its own method closures), so the
 * schema is garbage once the config is parsed — part of keeping the agent under 50 MB RSS.
 */
function buildAgentConfigSchema() {
  /** A duration with a floor, so a typo like "1ms" cannot turn a loop into a busy loop. */
  const durationAtLeast = (minMs: number) =>
    z.string({ error: (issue) => `expected a duration like "10s", "5m" or "7d", got ${JSON.stringify(issue.input)}` })
      .pipe(durationSchema).pipe(z.number().min(minMs, `must be at least ${formatDuration(minMs)}`));

  /** The secret union's own errors say only "Invalid input"; say what would be accepted. */
  const token = z.unknown().transform((value, ctx) => {
    const r = secretSchema.safeParse(value);
    if (r.success) return r.data;
    ctx.addIssue({ code: 'custom', message: value === undefined
      ? 'required: the token this agent presents to the controller'
      : 'expected a token string, {"env": "VAR"} or {"file": "/path"}' });
    return z.NEVER;
  });

  /** Same limit as the wire's `name`, so everything named here can be sent in hello. */
  const name = z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters');

  /** A command as an argument vector: never a string a shell would split. */
  const argv = z.array(z.string().min(1, 'must not be empty'), { error: 'expected an argument vector like ["/usr/bin/cmd", "--flag"]' })
    .min(1, 'expected an argument vector like ["/usr/bin/cmd", "--flag"]');

  const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^:\s/[\]]+):(\d{1,5})$/;
  const hostPort = z.string().refine((s) => {
    const m = HOST_PORT.exec(s);
    return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 65535;
  }, 'expected "host:port" with a port 1-65535, e.g. "127.0.0.1:8080"');
  const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' });
  /** Unit names as systemd spells them; a leading "-" would be read by systemctl as an option. */
  const systemdUnit = z.string().regex(/^[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]*$/, 'expected a systemd unit name like "nginx" or "nginx.service"');
  const processName = z.string().min(1, 'must not be empty').max(255).regex(/^[^/\0]+$/, 'expected a process name without "/", e.g. "nginx"');
  const pidfilePath = z.string({ error: 'expected an absolute path to a pid file like "/run/nginx.pid"' })
    .max(4096).refine((p) => isAbsolute(p) && !p.includes('\0'), 'expected an absolute path to a pid file like "/run/nginx.pid"');

  /** A directory disk.cleanup may work in; "/" would hand the whole filesystem to a rule. */
  const cleanupRoot = z.string({ error: 'expected an absolute directory path like "/var/log/app"' })
    .refine((p) => isAbsolute(p) && !p.includes('\0'), 'expected an absolute directory path like "/var/log/app"')
    .transform((p) => resolve(p))
    .refine((p) => p !== resolve('/'), 'the filesystem root may not be a cleanup root: name the directories to clean');


  /** Exactly one probe kind per service: zero or two are both mistakes worth naming. */
  const probeSchema = z.strictObject({
    tcp: hostPort.optional(),
    http: httpUrl.optional(),
    systemd: systemdUnit.optional(),
    process: processName.optional(),
    pidfile: pidfilePath.optional(),
    /**
     * tcp only: keep the connection open between probes, so the death of the service is seen
     * the instant the kernel closes it (then confirmed by a fresh connect), not at the next probe.
     */
    hold: z.boolean({ error: 'expected true or false' }).optional(),
  }, { error: 'expected an object like {"tcp": "127.0.0.1:8080"}' }).superRefine((p, ctx) => {
    const given = PROBE_KINDS.filter((k) => p[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({ code: 'custom', message: given.length === 0
        ? `expected exactly one of ${PROBE_KINDS.join(', ')}`
        : `expected exactly one of ${PROBE_KINDS.join(', ')}, got ${given.join(' and ')}` });
    } else if (p.hold !== undefined && given[0] !== 'tcp') {
      ctx.addIssue({ code: 'custom', path: ['hold'], message: `"hold" applies only to a tcp probe, not to ${given[0]}` });
    }
  });

  const serviceSchema = z.strictObject({
    name,
    probe: probeSchema,
    probeInterval: durationAtLeast(100).default(1000),
    probeTimeout: durationAtLeast(10).default(1000),
    restart: argv.optional(),
  });

  const wsUrl = z.url({ protocol: /^wss?$/, error: 'expected a ws:// or wss:// URL, e.g. "ws://127.0.0.1:7070"' });

  return z.strictObject({
    /** One controller URL, or a list of controllers sharing one database (tried in shuffled order). */
    controller: z.union([wsUrl, z.array(wsUrl).min(1, 'give at least one controller URL')]),
    /** A shared agent token; or enroll with `enrollToken` and get a credential of this agent's own. */
    token: token.optional(),
    /** A one-time enrollment token: used once to get this agent's credential, then not needed. */
    enrollToken: token.optional(),
    /** Where the credential from enrollment is kept (mode 0600); default: credential.json beside the config. */
    credentialFile: z.string().min(1).optional(),
    /** CA certificate (PEM file) this agent trusts for wss:// — and only it: the controller is pinned. */
    ca: z.string().min(1).optional(),
    /** The controller's instruction-signing public key (PEM, or {file}); enrollment pins it too. */
    controllerKey: secretSchema.optional(),
    id: name.optional(),
    labels: z.record(z.string().min(1).max(100), z.string().max(200)).default({}),
    interval: durationAtLeast(100).default(10_000),
    services: z.array(serviceSchema).max(1000).default([]).superRefine((services, ctx) => {
      const seen = new Map<string, number>();
      services.forEach((s, i) => {
        const first = seen.get(s.name);
        if (first === undefined) seen.set(s.name, i);
        else ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate service name ${JSON.stringify(s.name)} (first at /services/${first})` });
      });
    }),
    scripts: z.record(name, argv).default({}).refine((s) => Object.keys(s).length <= 1000, 'at most 1000 scripts'),
    /**
     * The only directories disk.cleanup may delete in (each with everything under it), e.g.
     * ["/var/log/app"]. Symbolic links are resolved at each run: a path reached through a link
     * that leaves every root is refused. Empty (the default) allows no cleanup at all.
     */
    cleanupRoots: z.array(cleanupRoot, { error: 'expected a list of absolute directory paths' }).max(100).default([]),
    /** Upper bound on any action's run time, whatever the instruction asks for. */
    actionTimeout: durationAtLeast(1).optional(),
    /** Per stream; two streams of 256 KiB of plain text fit one 1 MiB link frame. */
    maxOutputBytes: z.number({ error: 'expected a whole number of bytes' }).int({ error: 'expected a whole number of bytes' }).min(1).max(262_144).default(65_536),
    reconnect: z.strictObject({
      min: durationAtLeast(1).default(250),
      max: durationAtLeast(1).default(15_000),
    }).default({ min: 250, max: 15_000 }).refine((r) => r.min <= r.max, { message: 'min must not exceed max', path: ['min'] }),
    outboxLimit: z.number({ error: 'expected a whole number' }).int({ error: 'expected a whole number' }).min(1).max(1_000_000).default(1000),
    /** Samples kept while the link is down; past this the oldest are dropped (and counted). */
    sampleBufferLimit: z.number({ error: 'expected a whole number' }).int({ error: 'expected a whole number' }).min(1).max(100_000).default(60),
    /** No frame or ping from the controller for this long means the link is dead (a half-open TCP link). */
    idleTimeout: durationAtLeast(500).default(45_000),
    /**
     * Where the agent keeps what must survive its restart: the instruction ids it has run
     * (laas-<id>.runs.json) and the results not yet acknowledged (laas-<id>.outbox.json).
     * Default: the folder of agent.json.
     */
    stateDir: z.string().min(1).optional(),
    /**
     * The agent's own Prometheus endpoint (off when absent), e.g. {"listen": "127.0.0.1:9101"}.
     * It has no authentication: keep it on loopback unless a firewall guards the port.
     */
    metrics: z.strictObject({ listen: hostPort }).optional(),
  }).superRefine((c, ctx) => {
    if (c.token === undefined && c.enrollToken === undefined && c.credentialFile === undefined) {
      ctx.addIssue({ code: 'custom', path: ['token'], message: 'required: the token this agent presents to the controller (or "enrollToken" to enroll)' });
    }
  });
}

/** The parsed (not yet normalised) shape of agent.json. */
type AgentConfigInput = z.output<ReturnType<typeof buildAgentConfigSchema>>;

export interface ServiceConfig {
  readonly name: string;
  /** `hold`: a tcp probe keeps its connection open to learn of the service's death at once. */
  readonly probe: { readonly kind: ProbeKind; readonly target: string; readonly hold?: boolean };
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  readonly restart?: readonly string[];
}

/** The agent config after validation: durations in ms, secrets resolved, frozen. */
export interface AgentConfig {
  /** The first controller URL (enrollment goes there). */
  readonly controller: string;
  /** Every controller URL; the link tries them in shuffled order on each reconnect. */
  readonly controllers: readonly string[];
  /** The shared token; empty when the agent enrolls or uses its credential file. */
  readonly token: string;
  readonly enrollToken?: string;
  readonly credentialFile: string;
  /** PEM text of the CA to trust (read at load). */
  readonly ca?: string;
  /** PEM of the controller's signing key, when the config pins one. */
  readonly controllerKey?: string;
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly intervalMs: number;
  readonly services: readonly ServiceConfig[];
  readonly scripts: Readonly<Record<string, readonly string[]>>;
  /** Absolute and normalised; symbolic links in them are resolved when an action runs. */
  readonly cleanupRoots: readonly string[];
  readonly actionTimeoutMs?: number;
  readonly maxOutputBytes: number;
  readonly reconnect: { readonly minMs: number; readonly maxMs: number };
  readonly outboxLimit: number;
  readonly sampleBufferLimit: number;
  readonly idleTimeoutMs: number;
  /** Absent only when built in code without one (then nothing is persisted); `laas agent` always has one. */
  readonly stateDir?: string;
  /** The agent's own /metrics endpoint; absent (the default) means none, and prom-client is never loaded. */
  readonly metrics?: { readonly listen: string };
}

/** Validates a parsed agent.json; `where` (usually the file path) prefixes every error. */
export function parseAgentConfig(value: unknown, where: string): AgentConfig {
  const c: AgentConfigInput = validate(value, where, buildAgentConfigSchema());
  const config: AgentConfig = {
    controller: typeof c.controller === 'string' ? c.controller : c.controller[0],
    controllers: typeof c.controller === 'string' ? [c.controller] : [...new Set(c.controller)],
    token: c.token === undefined ? '' : resolveSecret(c.token, `${where} /token`),
    ...(c.enrollToken !== undefined ? { enrollToken: resolveSecret(c.enrollToken, `${where} /enrollToken`) } : {}),
    credentialFile: c.credentialFile ?? 'credential.json',
    ...(c.ca !== undefined ? { ca: readPem(c.ca, `${where} /ca`) } : {}),
    ...(c.controllerKey !== undefined ? { controllerKey: resolveSecret(c.controllerKey, `${where} /controllerKey`) } : {}),
    id: c.id ?? hostname(),
    labels: { ...c.labels },
    intervalMs: c.interval,
    services: c.services.map((s) => {
      const kind = PROBE_KINDS.find((k) => s.probe[k] !== undefined)!;
      return {
        name: s.name,
        probe: { kind, target: s.probe[kind]!, ...(s.probe.hold ? { hold: true } : {}) },
        probeIntervalMs: s.probeInterval,
        probeTimeoutMs: s.probeTimeout,
        ...(s.restart ? { restart: [...s.restart] } : {}),
      };
    }),
    scripts: Object.fromEntries(Object.entries(c.scripts).map(([k, v]) => [k, [...v]])),
    cleanupRoots: [...new Set(c.cleanupRoots)],
    ...(c.actionTimeout !== undefined ? { actionTimeoutMs: c.actionTimeout } : {}),
    maxOutputBytes: c.maxOutputBytes,
    reconnect: { minMs: c.reconnect.min, maxMs: c.reconnect.max },
    outboxLimit: c.outboxLimit,
    sampleBufferLimit: c.sampleBufferLimit,
    idleTimeoutMs: c.idleTimeout,
    ...(c.stateDir !== undefined ? { stateDir: c.stateDir } : {}),
    ...(c.metrics ? { metrics: { listen: c.metrics.listen } } : {}),
  };
  return deepFreeze(config);
}

/** Loads agent.json; relative paths in it (credentialFile, ca) are taken from the file's folder. */
export function loadAgentConfig(file: string): AgentConfig {
  const raw = loadJsonFile(file, z.unknown());
  const base = dirname(resolve(file));
  const isObject = raw !== null && typeof raw === 'object' && !Array.isArray(raw);
  const ca = isObject ? (raw as Record<string, unknown>).ca : undefined;
  const config = parseAgentConfig(isObject && typeof ca === 'string' ? { ...raw, ca: resolve(base, ca) } : raw, file);
  return deepFreeze({ ...config, credentialFile: resolve(base, config.credentialFile), stateDir: resolve(base, config.stateDir ?? '.') });
}

function readPem(path: string, where: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new LaasError('CONFIG_READ_FAILED', `cannot read the CA file ${path}: ${(e as Error).message}`, where);
  }
}
