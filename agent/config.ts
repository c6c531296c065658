import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import * as v from 'valibot';
import {
  LaasError,
  deepFreeze,
  hostLabels,
  identifier,
  isPlainObject,
  readJsonFile,
  record,
  resolveSecret,
  secretSchema,
  strictObject,
  validate,
  validator,
  wholeNumber,
} from '../protocol/index.js';
import { argvSchema, at, cleanUrl, durationMin, hostPortSchema, urlOf } from './config-parts.js';
import { pinnedKey, secretEnvNames } from './config-secrets.js';
import { buildServiceSchema, normaliseService, type ServiceConfig } from './config-services.js';
import { SOURCE_CONFIG, type SourcesConfig } from './sources/config.js';

/**
 * Builds the agent.json schema. Not kept at module level: the agent validates its config once at
 * start, so the schema is garbage once the config is parsed — part of keeping the agent under
 * 50 MB RSS.
 */
function buildAgentConfigSchema() {
  /** The secret union's own errors say only what one branch wanted; say what would be accepted. */
  const token = v.pipe(
    v.unknown(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const r = v.safeParse(secretSchema, dataset.value);
      if (r.success) return r.output;
      addIssue({
        message:
          dataset.value === undefined
            ? 'required: the token this agent presents to the controller'
            : 'expected a token string, {"env": "VAR"} or {"file": "/path"}',
      });
      return NEVER;
    }),
  );

  /** The wire's own rule for ids and names, so everything named here can be sent in hello. */
  const name = identifier(200);

  /** A directory disk.cleanup may work in; "/" would hand the whole filesystem to a rule. */
  const CLEANUP_ROOT = 'expected an absolute directory path like "/var/log/app"';
  const cleanupRoot = v.pipe(
    v.string(CLEANUP_ROOT),
    v.check((p) => isAbsolute(p) && !p.includes('\0'), CLEANUP_ROOT),
    v.transform((p) => resolve(p)),
    v.check((p) => p !== resolve('/'), 'the filesystem root may not be a cleanup root: name the directories to clean'),
  );

  const wholeIn = (min: number, max: number, message: string) => v.pipe(wholeNumber(message), v.minValue(min), v.maxValue(max));

  const serviceSchema = buildServiceSchema();
  const argv = argvSchema();
  const hostPort = hostPortSchema();
  const wsUrl = urlOf(['ws:', 'wss:'], 'expected a ws:// or wss:// URL, e.g. "ws://127.0.0.1:7070"');

  return v.pipe(
    strictObject({
      /** One controller URL, or a list of controllers sharing one database (tried in shuffled order). */
      controller: v.union(
        [wsUrl, v.pipe(v.array(wsUrl), v.minLength(1, 'give at least one controller URL'))],
        'expected a ws:// or wss:// URL, e.g. "ws://127.0.0.1:7070", or a list of them',
      ),
      /** A shared agent token; or enroll with `enrollToken` and get a credential of this agent's own. */
      token: v.optional(token),
      /** A one-time enrollment token: used once to get this agent's credential, then not needed. */
      enrollToken: v.optional(token),
      /** Where the credential from enrollment is kept (mode 0600); default: credential.json beside the config. */
      credentialFile: v.optional(v.pipe(v.string(), v.minLength(1))),
      /** CA certificate (PEM file) this agent trusts for wss:// — and only it: the controller is pinned. */
      ca: v.optional(v.pipe(v.string(), v.minLength(1))),
      /**
       * The controller's instruction-signing public key (PEM text, {"file"} or {"env"}), pinned:
       * only instructions it signed run. Enrollment pins it too; an agent on a shared token needs
       * it here (`laas signing-key` prints it). `controllerKey` is its older name, still accepted.
       */
      signingKey: v.optional(secretSchema),
      controllerKey: v.optional(secretSchema),
      /**
       * Names of the agent's environment variables that the commands it starts (restarts, scripts,
       * probes) may also see, besides a small fixed set (PATH, HOME, LANG, LC_*, TZ, …). LAAS_*
       * variables and the ones the config's secrets come from are never passed.
       */
      passEnv: v.optional(
        v.pipe(v.array(v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name like "HTTP_PROXY"'))), v.maxLength(100)),
        [],
      ),
      id: v.optional(name),
      labels: v.optional(hostLabels(), {}),
      interval: v.optional(durationMin(100), '10s'),
      services: v.optional(
        v.pipe(
          v.array(serviceSchema),
          v.maxLength(1000),
          v.rawCheck(({ dataset, addIssue }) => {
            if (!dataset.typed) return;
            const seen = new Map<string, number>();
            dataset.value.forEach((s, i) => {
              const first = seen.get(s.name);
              if (first === undefined) seen.set(s.name, i);
              else addIssue({ message: `duplicate service name ${JSON.stringify(s.name)} (first at /services/${first})`, path: at(dataset.value, i, 'name') });
            });
          }),
        ),
        [],
      ),
      scripts: v.optional(
        v.pipe(
          record(name, argv),
          v.check((s) => Object.keys(s).length <= 1000, 'at most 1000 scripts'),
        ),
        {},
      ),
      /**
       * The only directories disk.cleanup may delete in (each with everything on its filesystem
       * under it), e.g. ["/var/log/app"]. Symbolic links are resolved at each run: a path reached
       * through a link that leaves every root is refused. Empty (the default) allows no cleanup.
       */
      cleanupRoots: v.optional(v.pipe(v.array(cleanupRoot, 'expected a list of absolute directory paths'), v.maxLength(100)), []),
      /** Upper bound on any action's run time, whatever the instruction asks for. */
      actionTimeout: v.optional(durationMin(1)),
      /** Per stream; two streams of 256 KiB of plain text fit one 1 MiB link frame. */
      maxOutputBytes: v.optional(wholeIn(1, 262_144, 'expected a whole number of bytes'), 65_536),
      reconnect: v.optional(
        v.pipe(
          strictObject({
            min: v.optional(durationMin(1), '250ms'),
            max: v.optional(durationMin(1), '15s'),
          }),
          v.forward(
            v.check((r) => r.min <= r.max, 'min must not exceed max'),
            ['min'],
          ),
        ),
        {},
      ),
      outboxLimit: v.optional(wholeIn(1, 1_000_000, 'expected a whole number'), 1000),
      /** Samples kept while the link is down; past this the oldest are dropped (and counted). */
      sampleBufferLimit: v.optional(wholeIn(1, 100_000, 'expected a whole number'), 60),
      /** No frame or ping from the controller for this long means the link is dead (a half-open TCP link). */
      idleTimeout: v.optional(durationMin(500), '45s'),
      /**
       * Where the agent keeps what must survive its restart: the instruction ids it has run
       * (laas-<id>.runs.json) and the results not yet acknowledged (laas-<id>.outbox.json).
       * Default: the folder of agent.json.
       */
      stateDir: v.optional(v.pipe(v.string(), v.minLength(1))),
      /**
       * The agent's own Prometheus endpoint (off when absent), e.g. {"listen": "127.0.0.1:9101"}.
       * It has no authentication: keep it on loopback unless a firewall guards the port.
       */
      metrics: v.optional(strictObject({ listen: hostPort })),
      ...SOURCE_CONFIG,
    }),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const c = dataset.value;
      if (c.token === undefined && c.enrollToken === undefined && c.credentialFile === undefined) {
        addIssue({ message: 'required: the token this agent presents to the controller (or "enrollToken" to enroll)', path: at(c, 'token') });
      }
      const secretVars = secretEnvNames(c);
      c.passEnv.forEach((name, i) => {
        if (/^LAAS_/i.test(name))
          addIssue({ message: `${name}: LAAS_* variables are never passed to the commands the agent starts`, path: at(c, 'passEnv', i) });
        else if (secretVars.includes(name))
          addIssue({ message: `${name} holds a secret of this config; it is never passed to the commands the agent starts`, path: at(c, 'passEnv', i) });
      });
    }),
  );
}

export { MAX_REDIRECTS, PROBE_KINDS, WATCH_KINDS, type HttpExpect, type ProbeKind, type ServiceConfig } from './config-services.js';

/** The parsed (not yet normalised) shape of agent.json. */
type AgentConfigInput = v.InferOutput<ReturnType<typeof buildAgentConfigSchema>>;

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
  /** PEM of the controller's signing key, when the config pins one (`signingKey` or `controllerKey`). */
  readonly signingKey?: string;
  /** Environment variables passed on to the commands the agent starts, besides the fixed set. */
  readonly passEnv: readonly string[];
  /** Environment variables the config's secrets come from: never passed on. */
  readonly secretEnv: readonly string[];
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
  /** The fact sources' sections of agent.json (agent/sources/config.ts). */
  readonly sources: SourcesConfig;
}

/** Validates a parsed agent.json; `where` (usually the file path) prefixes every error. */
export function parseAgentConfig(value: unknown, where: string): AgentConfig {
  const c: AgentConfigInput = validate(value, where, validator(buildAgentConfigSchema()));
  const controllers = (typeof c.controller === 'string' ? [c.controller] : c.controller).map(cleanUrl);
  const signingKey = pinnedKey(c, where);
  const config: AgentConfig = {
    controller: controllers[0],
    controllers: [...new Set(controllers)],
    token: c.token === undefined ? '' : resolveSecret(c.token, `${where} /token`),
    ...(c.enrollToken !== undefined ? { enrollToken: resolveSecret(c.enrollToken, `${where} /enrollToken`) } : {}),
    credentialFile: c.credentialFile ?? 'credential.json',
    ...(c.ca !== undefined ? { ca: readPem(c.ca, `${where} /ca`) } : {}),
    ...(signingKey !== undefined ? { signingKey } : {}),
    passEnv: [...new Set(c.passEnv)],
    secretEnv: secretEnvNames(c),
    id: c.id ?? hostname(),
    labels: { ...c.labels },
    intervalMs: c.interval,
    services: c.services.map(normaliseService),
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
    sources: Object.fromEntries(Object.keys(SOURCE_CONFIG).map((k) => [k, c[k as keyof typeof SOURCE_CONFIG]])) as SourcesConfig,
  };
  return deepFreeze(config);
}

/** Loads agent.json; relative paths in it (credentialFile, ca) are taken from the file's folder. */
export function loadAgentConfig(file: string): AgentConfig {
  const raw = readJsonFile(file);
  const base = dirname(resolve(file));
  const ca = isPlainObject(raw) ? raw.ca : undefined;
  const config = parseAgentConfig(isPlainObject(raw) && typeof ca === 'string' ? { ...raw, ca: resolve(base, ca) } : raw, file);
  return deepFreeze({ ...config, credentialFile: resolve(base, config.credentialFile), stateDir: resolve(base, config.stateDir ?? '.') });
}

function readPem(path: string, where: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new LaasError('CONFIG_READ_FAILED', `cannot read the CA file ${path}: ${(e as Error).message}`, where);
  }
}
