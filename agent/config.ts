import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import * as v from 'valibot';
import {
  LaasError,
  deepFreeze,
  durationAtLeast,
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
import { pinnedKey, secretEnvNames } from './config-secrets.js';
import { SOURCE_CONFIG, type SourcesConfig } from './sources/config.js';

export const PROBE_KINDS = ['tcp', 'http', 'systemd', 'process', 'pidfile'] as const;
/** Redirects an http probe follows at most, as fetch (and browsers) do: more is a redirect loop. */
export const MAX_REDIRECTS = 20;
export type ProbeKind = (typeof PROBE_KINDS)[number];
/** The probe kinds that may watch their service's process for its exit (`"watch": true`). */
export const WATCH_KINDS: readonly ProbeKind[] = ['process', 'pidfile'];

/** The path item valibot puts on an issue, for issues a check raises on a field below it. */
function at(input: Record<string, unknown> | unknown[], ...keys: (string | number)[]): [v.IssuePathItem, ...v.IssuePathItem[]] {
  let container: unknown = input;
  const items = keys.map((key) => {
    const value = (container as Record<string | number, unknown>)[key];
    const item = Array.isArray(container)
      ? { type: 'array' as const, origin: 'value' as const, input: container, key: key as number, value }
      : { type: 'object' as const, origin: 'value' as const, input: container as Record<string, unknown>, key: key as string, value };
    container = value;
    return item;
  });
  return items as [v.IssuePathItem, ...v.IssuePathItem[]];
}

/**
 * A URL of the given schemes (as `new URL` reads it), e.g. ["ws:", "wss:"]; surrounding blanks
 * do not count (cleanUrl drops them). An http(s) URL must say "://", so "http:example.com" is
 * not silently taken. Only a check, no transform: a transform would hide from `union` which
 * branch (a URL or a list of them) the value was meant for.
 */
function urlOf(protocols: readonly string[], message: string) {
  const http = protocols.includes('http:');
  return v.pipe(
    v.string(message),
    v.check((raw) => {
      const s = raw.trim();
      if (http && !/^https?:\/\//i.test(s)) return false;
      try {
        return protocols.includes(new URL(s).protocol);
      } catch {
        return false;
      }
    }, message),
  );
}

/** A checked URL as it is used: trimmed, without the tabs and line breaks the URL parser ignores. */
function cleanUrl(url: string): string {
  return url.trim().replace(/[\t\n\r]/g, '');
}

/**
 * Builds the agent.json schema. Not kept at module level: the agent validates its config once at
 * start, so the schema is garbage once the config is parsed — part of keeping the agent under
 * 50 MB RSS.
 */
function buildAgentConfigSchema() {
  const durationMessage = (issue: { input: unknown }) => `expected a duration like "10s", "5m" or "7d", got ${JSON.stringify(issue.input)}`;
  /** A duration with a floor, so a typo like "1ms" cannot turn a loop into a busy loop. */
  const durationMin = (minMs: number) => durationAtLeast(minMs, undefined, durationMessage);

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

  /** A command as an argument vector: never a string a shell would split. */
  const ARGV = 'expected an argument vector like ["/usr/bin/cmd", "--flag"]';
  const argv = v.pipe(v.array(v.pipe(v.string(), v.minLength(1, 'must not be empty')), ARGV), v.minLength(1, ARGV));

  const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^:\s/[\]]+):(\d{1,5})$/;
  const hostPort = v.pipe(
    v.string(),
    v.check((s) => {
      const m = HOST_PORT.exec(s);
      return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 65535;
    }, 'expected "host:port" with a port 1-65535, e.g. "127.0.0.1:8080"'),
  );
  const httpUrl = urlOf(['http:', 'https:'], 'expected an http:// or https:// URL');
  /** Unit names as systemd spells them; a leading "-" would be read by systemctl as an option. */
  const systemdUnit = v.pipe(v.string(), v.regex(/^[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]*$/, 'expected a systemd unit name like "nginx" or "nginx.service"'));
  const processName = v.pipe(
    v.string(),
    v.minLength(1, 'must not be empty'),
    v.maxLength(255),
    v.regex(/^[^/\0]+$/, 'expected a process name without "/", e.g. "nginx"'),
  );
  const PIDFILE = 'expected an absolute path to a pid file like "/run/nginx.pid"';
  const pidfilePath = v.pipe(
    v.string(PIDFILE),
    v.maxLength(4096),
    v.check((p) => isAbsolute(p) && !p.includes('\0'), PIDFILE),
  );

  /** A directory disk.cleanup may work in; "/" would hand the whole filesystem to a rule. */
  const CLEANUP_ROOT = 'expected an absolute directory path like "/var/log/app"';
  const cleanupRoot = v.pipe(
    v.string(CLEANUP_ROOT),
    v.check((p) => isAbsolute(p) && !p.includes('\0'), CLEANUP_ROOT),
    v.transform((p) => resolve(p)),
    v.check((p) => p !== resolve('/'), 'the filesystem root may not be a cleanup root: name the directories to clean'),
  );

  const REDIRECTS = `expected a whole number of redirects 0-${MAX_REDIRECTS}`;
  const STATUS = 'expected an HTTP status like 200, a range like "200-399", or a list of them';
  const httpStatus = v.union(
    [
      v.pipe(wholeNumber(STATUS), v.minValue(100, STATUS), v.maxValue(599, STATUS)),
      v.pipe(
        v.string(),
        v.check((s) => {
          const m = /^([1-5]\d\d)-([1-5]\d\d)$/.exec(s);
          return m !== null && Number(m[1]) <= Number(m[2]);
        }, STATUS),
      ),
    ],
    STATUS,
  );
  /**
   * Checked here for what JavaScript also refuses (an unclosed group): the typo is named at start.
   * RE2's own verdict comes at the first probe — re2js costs a few MiB, loaded only when used.
   */
  const bodyPattern = v.pipe(
    v.string(),
    v.minLength(1, 'must not be empty'),
    v.maxLength(1000),
    v.check((s) => {
      try {
        new RegExp(s);
        return true;
      } catch {
        return false;
      }
    }, 'expected a regular expression (RE2 syntax) like "ok|healthy"'),
  );
  const wholeIn = (min: number, max: number, message: string) => v.pipe(wholeNumber(message), v.minValue(min), v.maxValue(max));

  /** Exactly one probe kind per service: zero or two are both mistakes worth naming. */
  const probeSchema = v.pipe(
    strictObject(
      {
        tcp: v.optional(hostPort),
        http: v.optional(httpUrl),
        systemd: v.optional(systemdUnit),
        process: v.optional(processName),
        pidfile: v.optional(pidfilePath),
        /**
         * tcp only: keep the connection open between probes, so the death of the service is seen
         * the instant the kernel closes it (then confirmed by a fresh connect), not at the next probe.
         */
        hold: v.optional(v.boolean('expected true or false')),
        // http only: what the answer must be, beyond "2xx after at most 20 redirects".
        /** Statuses that mean up: 204, "200-399", or a list of them. */
        status: v.optional(v.union([httpStatus, v.pipe(v.array(httpStatus), v.minLength(1), v.maxLength(50))], STATUS)),
        /** A regular expression (RE2 syntax) the body's first 64 KiB must match. */
        bodyMatch: v.optional(bodyPattern),
        /** Text the body's first 64 KiB must contain. */
        bodyContains: v.optional(v.pipe(v.string(), v.minLength(1, 'must not be empty'), v.maxLength(1000))),
        /** An answer slower than this (to the final response's headers) is down, with its time. */
        maxLatency: v.optional(durationMin(1)),
        /** Redirects followed (0: judge the first answer, a 3xx included). */
        redirects: v.optional(v.pipe(wholeNumber(REDIRECTS), v.minValue(0, REDIRECTS), v.maxValue(MAX_REDIRECTS, REDIRECTS))),
        /**
         * process and pidfile: watch the process found (Linux pidfd, agent/probes/pid-watch.ts), so its
         * exit is seen the moment it happens (then confirmed by a fresh look), not at the next probe.
         */
        watch: v.optional(v.boolean('expected true or false')),
      },
      'expected an object like {"tcp": "127.0.0.1:8080"}',
    ),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const p = dataset.value;
      const given = PROBE_KINDS.filter((k) => p[k] !== undefined);
      if (given.length !== 1) {
        addIssue({
          message:
            given.length === 0
              ? `expected exactly one of ${PROBE_KINDS.join(', ')}`
              : `expected exactly one of ${PROBE_KINDS.join(', ')}, got ${given.join(' and ')}`,
        });
      } else if (p.hold !== undefined && given[0] !== 'tcp') {
        addIssue({ message: `"hold" applies only to a tcp probe, not to ${given[0]}`, path: at(p, 'hold') });
      } else if (given[0] !== 'http') {
        for (const k of HTTP_EXPECT) if (p[k] !== undefined) addIssue({ message: `"${k}" applies only to an http probe, not to ${given[0]}`, path: at(p, k) });
      }
      if (given.length === 1 && p.watch !== undefined && !WATCH_KINDS.includes(given[0])) {
        addIssue({ message: `"watch" applies only to a ${WATCH_KINDS.join(' or ')} probe, not to ${given[0]}`, path: at(p, 'watch') });
      }
    }),
  );

  const serviceSchema = strictObject({
    name,
    probe: probeSchema,
    probeInterval: v.optional(durationMin(100), '1s'),
    probeTimeout: v.optional(durationMin(10), '1s'),
    restart: v.optional(argv),
  });

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

/** The parsed (not yet normalised) shape of agent.json. */
type AgentConfigInput = v.InferOutput<ReturnType<typeof buildAgentConfigSchema>>;

/** The probe fields that apply to http only. */
const HTTP_EXPECT = ['status', 'bodyMatch', 'bodyContains', 'maxLatency', 'redirects'] as const;

/** What an http probe expects of the answer; each field left out keeps the default. */
export interface HttpExpect {
  /** Inclusive ranges of statuses that mean up (default 200-299). */
  readonly status?: readonly (readonly [number, number])[];
  readonly bodyMatch?: string;
  readonly bodyContains?: string;
  readonly maxLatencyMs?: number;
  /** Redirects followed; 0 judges the first answer (default 20). */
  readonly redirects?: number;
}

export interface ServiceConfig {
  readonly name: string;
  /**
   * `hold`: a tcp probe keeps its connection open to learn of the service's death at once.
   * `watch`: a process or pidfile probe watches the process it found, for the same reason.
   */
  readonly probe: { readonly kind: ProbeKind; readonly target: string; readonly hold?: boolean; readonly watch?: boolean; readonly http?: HttpExpect };
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
    services: c.services.map((s) => {
      const kind = PROBE_KINDS.find((k) => s.probe[k] !== undefined)!;
      return {
        name: s.name,
        probe: {
          kind,
          target: kind === 'http' ? cleanUrl(s.probe.http!) : s.probe[kind]!,
          ...(s.probe.hold ? { hold: true } : {}),
          ...(HTTP_EXPECT.some((k) => s.probe[k] !== undefined) ? { http: httpExpect(s.probe) } : {}),
          ...(s.probe.watch ? { watch: true } : {}),
        },
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

function httpExpect(p: AgentConfigInput['services'][number]['probe']): HttpExpect {
  const range = (s: number | string): [number, number] => (typeof s === 'number' ? [s, s] : (s.split('-').map(Number) as [number, number]));
  return {
    ...(p.status !== undefined ? { status: (Array.isArray(p.status) ? p.status : [p.status]).map(range) } : {}),
    ...(p.bodyMatch !== undefined ? { bodyMatch: p.bodyMatch } : {}),
    ...(p.bodyContains !== undefined ? { bodyContains: p.bodyContains } : {}),
    ...(p.maxLatency !== undefined ? { maxLatencyMs: p.maxLatency } : {}),
    ...(p.redirects !== undefined ? { redirects: p.redirects } : {}),
  };
}

function readPem(path: string, where: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new LaasError('CONFIG_READ_FAILED', `cannot read the CA file ${path}: ${(e as Error).message}`, where);
  }
}
