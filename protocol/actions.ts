import { isAbsolute } from 'node:path';
import * as v from 'valibot';
import { durationAtLeast } from './duration.js';
import { strictObject } from './schema.js';

/** The signals process.kill may send; anything else (SIGSTOP, real-time signals) is refused. */
export const KILL_SIGNALS = ['SIGTERM', 'SIGKILL', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;
export type KillSignal = (typeof KILL_SIGNALS)[number];

/** Linux's largest possible pid (PID_MAX_LIMIT). */
const PID_MAX = 4_194_304;

const PID_EXPECTED = 'expected a process id (a whole number greater than 1)';

const processKillParams = v.pipe(
  strictObject({
    /** As the `process` probe matches it: the kernel's comm, or the base name of argv[0]. */
    name: v.optional(
      v.pipe(
        v.string('expected a process name like "nginx"'),
        v.minLength(1, 'must not be empty'),
        v.maxLength(255),
        v.regex(/^[^/\0]+$/, 'expected a process name without "/", e.g. "nginx"'),
      ),
    ),
    pid: v.optional(
      v.pipe(
        v.number(PID_EXPECTED),
        v.safeInteger(PID_EXPECTED),
        v.minValue(2, 'expected a process id greater than 1: pid 1 (init) is never signalled'),
        v.maxValue(PID_MAX, `expected a process id of at most ${PID_MAX}`),
      ),
    ),
    signal: v.optional(v.picklist(KILL_SIGNALS, `expected one of ${KILL_SIGNALS.join(', ')}`), 'SIGTERM'),
  }),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const p = dataset.value;
    if (p.name !== undefined && p.pid !== undefined) addIssue({ message: 'expected exactly one of "name" or "pid", got both' });
    if (p.name === undefined && p.pid === undefined) addIssue({ message: 'expected exactly one of "name" (a process name) or "pid" (a process id)' });
  }),
);

/** A cleanup younger than this would race files still being written. */
const MIN_CLEANUP_AGE_MS = 60_000;

const ABSOLUTE_PATH = 'expected an absolute path like "/var/log/app"';

const diskCleanupParams = strictObject({
  /** A directory (or one file) under one of the agent's `cleanupRoots`. */
  path: v.pipe(
    v.string(ABSOLUTE_PATH),
    v.maxLength(4096, 'must be at most 4096 characters'),
    v.check((p) => isAbsolute(p) && !p.includes('\0'), ABSOLUTE_PATH),
  ),
  /** Rules carry the string ("7d"); the parsed params hold milliseconds. */
  olderThan: durationAtLeast(
    MIN_CLEANUP_AGE_MS,
    'must be at least "1m": younger files may still be in use',
    (issue) => `expected a duration like "7d", got ${JSON.stringify(issue.input)}`,
  ),
  /** Matched against each file's base name: "*" is any run of characters, "?" any one; nothing else is special. */
  pattern: v.optional(
    v.pipe(
      v.string('expected a file name pattern like "*.log"'),
      v.minLength(1, 'must not be empty'),
      v.maxLength(255),
      v.regex(/^[^/\0]+$/, 'expected a pattern on the file name alone (no "/"), like "*.log"'),
    ),
    '*',
  ),
  dryRun: v.optional(v.boolean('expected true or false'), false),
  recursive: v.optional(v.boolean('expected true or false'), true),
});

/**
 * The action catalogue: every instruction an agent may be asked to run, with its parameter
 * schema. The controller checks rules against it at load (a bad rule fails then, not when it
 * fires); the agent checks every instruction against it again before running anything.
 */
export const ACTIONS = {
  'service.restart': {
    description: 'restart a service named in the agent config (its restart command, or systemctl for systemd probes)',
    params: strictObject({ service: v.pipe(v.string(), v.minLength(1), v.maxLength(200)) }),
    defaultTimeoutMs: 60_000,
  },
  'script.run': {
    description: 'run a script named in the agent config',
    params: strictObject({ name: v.pipe(v.string(), v.minLength(1), v.maxLength(200)) }),
    defaultTimeoutMs: 300_000,
  },
  'process.kill': {
    description: 'signal one process by pid, or every process by name (never pid 1, the agent or its parent)',
    params: processKillParams,
    defaultTimeoutMs: 10_000,
  },
  'disk.cleanup': {
    description: 'delete old files matching a name pattern under a path the agent config allows (cleanupRoots)',
    params: diskCleanupParams,
    defaultTimeoutMs: 300_000,
  },
} as const;

export type ActionName = keyof typeof ACTIONS;
export type ActionParams<A extends ActionName> = v.InferOutput<(typeof ACTIONS)[A]['params']>;

export function isActionName(name: string): name is ActionName {
  return Object.hasOwn(ACTIONS, name);
}

export const ACTION_NAMES = Object.keys(ACTIONS) as ActionName[];
