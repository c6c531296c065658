import { isAbsolute } from 'node:path';
import * as v from 'valibot';
import { identifier, strictObject, wholeNumber } from '../protocol/index.js';
import { argvSchema, at, cleanUrl, durationMin, hostPortSchema, urlOf } from './config-parts.js';

// agent.json's "services": what each service is probed by, and how it is restarted.

export const PROBE_KINDS = ['tcp', 'http', 'systemd', 'process', 'pidfile'] as const;
/** Redirects an http probe follows at most, as fetch (and browsers) do: more is a redirect loop. */
export const MAX_REDIRECTS = 20;
export type ProbeKind = (typeof PROBE_KINDS)[number];
/** The probe kinds that may learn of their service's death between probes (`"watch": true`). */
export const WATCH_KINDS: readonly ProbeKind[] = ['process', 'pidfile', 'systemd', 'http'];

/** The services schema. A function, like agent.json's: built once at start, then garbage. */
export function buildServiceSchema() {
  const name = identifier(200);
  const argv = argvSchema();
  const hostPort = hostPortSchema();
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
         * Learn of the service's death the moment it happens (then confirmed by a fresh look), not at
         * the next probe: process and pidfile watch the process found (Linux pidfd, pid-watch.ts);
         * systemd listens for the unit's D-Bus PropertiesChanged (unit-watch.ts); http keeps its
         * keep-alive connection open (http-hold.ts).
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
        addIssue({
          message: `"watch" applies only to a ${WATCH_KINDS.slice(0, -1).join(', ')} or ${WATCH_KINDS.at(-1)} probe, not to ${given[0]}`,
          path: at(p, 'watch'),
        });
      }
    }),
  );

  return strictObject({
    name,
    probe: probeSchema,
    probeInterval: v.optional(durationMin(100), '1s'),
    probeTimeout: v.optional(durationMin(10), '1s'),
    restart: v.optional(argv),
  });
}

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
   * `watch`: a process, pidfile, systemd or http probe learns of a change between probes, for the same reason.
   */
  readonly probe: { readonly kind: ProbeKind; readonly target: string; readonly hold?: boolean; readonly watch?: boolean; readonly http?: HttpExpect };
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  readonly restart?: readonly string[];
}

type ServiceInput = v.InferOutput<ReturnType<typeof buildServiceSchema>>;

/** A validated service as the agent uses it: one probe kind, durations in ms. */
export function normaliseService(s: ServiceInput): ServiceConfig {
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
}

function httpExpect(p: ServiceInput['probe']): HttpExpect {
  const range = (s: number | string): [number, number] => (typeof s === 'number' ? [s, s] : (s.split('-').map(Number) as [number, number]));
  return {
    ...(p.status !== undefined ? { status: (Array.isArray(p.status) ? p.status : [p.status]).map(range) } : {}),
    ...(p.bodyMatch !== undefined ? { bodyMatch: p.bodyMatch } : {}),
    ...(p.bodyContains !== undefined ? { bodyContains: p.bodyContains } : {}),
    ...(p.maxLatency !== undefined ? { maxLatencyMs: p.maxLatency } : {}),
    ...(p.redirects !== undefined ? { redirects: p.redirects } : {}),
  };
}
