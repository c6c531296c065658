/**
 * Structured JSON logs on stderr, quiet by default: lifecycle and decisions at info,
 * everything chatty at debug. LAAS_LOG_LEVEL overrides (trace…fatal, silent).
 *
 * One JSON object per line, in pino's shape — `level` as a number (10 trace … 60 fatal), `time`
 * (ISO 8601), `pid`, `name`, the child's bindings, the call's fields, then `msg` — so anything that
 * reads pino logs reads these. Written synchronously (process.stderr is synchronous on Linux for
 * files, pipes and terminals), so the last line before an exit is never lost.
 *
 * Why not pino itself (laas used it until issue #9): the agent's memory budget. pino and its
 * helpers (sonic-boom, thread-stream, redaction, serializers) cost the installed agent ~0.5 MiB of
 * RSS, measured side by side (bench/RESULTS.md, agent-footprint), for features laas does not use —
 * transports, redaction, buffered writes; laas writes a few lines a minute. One logger serves the
 * agent, the controller and the CLI alike.
 */
export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

const LEVELS: Record<Level | 'silent', number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

export interface LogFn {
  (fields: object, msg?: string): void;
  (msg: string): void;
}

export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  /** A logger whose every line also carries these fields (e.g. {part: 'agent'}). */
  child(bindings: Record<string, unknown>): Logger;
  isLevelEnabled(level: Level): boolean;
}

/** Where lines go: stderr, or a test's collector. */
export type LogSink = (line: string) => void;

const toStderr: LogSink = (line) => {
  process.stderr.write(line);
};

export function createLogger(name: string, level = process.env.LAAS_LOG_LEVEL ?? 'info', sink: LogSink = toStderr): Logger {
  if (!Object.hasOwn(LEVELS, level)) {
    throw new Error(`LAAS_LOG_LEVEL=${level} is not a log level: use one of ${Object.keys(LEVELS).join(', ')}`);
  }
  return logger({ pid: process.pid, name }, LEVELS[level as Level], sink);
}

export const silentLogger: Logger = logger({}, LEVELS.silent, () => {});

function logger(bindings: Record<string, unknown>, min: number, sink: LogSink): Logger {
  const at =
    (level: Level): LogFn =>
    (a: object | string, msg?: string) => {
      if (LEVELS[level] < min) return;
      const fields = typeof a === 'string' ? { msg: a } : msg === undefined ? a : { ...a, msg };
      sink(`${line({ level: LEVELS[level], time: new Date().toISOString(), ...bindings, ...fields })}\n`);
    };
  return {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    child: (more) => logger({ ...bindings, ...more }, min, sink),
    isLevelEnabled: (level) => LEVELS[level] >= min,
  };
}

/** JSON of one entry; errors as {type, message, stack}, bigints as text, a cycle as "[Circular]". */
function line(entry: Record<string, unknown>): string {
  try {
    return JSON.stringify(entry, plain);
  } catch {
    const seen = new WeakSet<object>();
    return JSON.stringify(entry, (key, value: unknown) => {
      const v = plain(key, value);
      if (typeof v === 'object' && v !== null) {
        if (seen.has(v)) return '[Circular]';
        seen.add(v);
      }
      return v;
    });
  }
}

function plain(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { type: value.name, message: value.message, stack: value.stack };
  if (typeof value === 'bigint') return value.toString();
  return value;
}
