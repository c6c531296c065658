import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { durationSchema } from './duration.js';

/** The signals process.kill may send; anything else (SIGSTOP, real-time signals) is refused. */
export const KILL_SIGNALS = ['SIGTERM', 'SIGKILL', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;
export type KillSignal = (typeof KILL_SIGNALS)[number];

/** Linux's largest possible pid (PID_MAX_LIMIT). */
const PID_MAX = 4_194_304;

const processKillParams = z.strictObject({
  /** As the `process` probe matches it: the kernel's comm, or the base name of argv[0]. */
  name: z.string({ error: 'expected a process name like "nginx"' }).min(1, 'must not be empty').max(255)
    .regex(/^[^/\0]+$/, 'expected a process name without "/", e.g. "nginx"').optional(),
  pid: z.number({ error: 'expected a process id (a whole number greater than 1)' })
    .int({ error: 'expected a process id (a whole number greater than 1)' })
    .min(2, 'expected a process id greater than 1: pid 1 (init) is never signalled')
    .max(PID_MAX, `expected a process id of at most ${PID_MAX}`).optional(),
  signal: z.enum(KILL_SIGNALS, { error: `expected one of ${KILL_SIGNALS.join(', ')}` }).default('SIGTERM'),
}).superRefine((p, ctx) => {
  if (p.name !== undefined && p.pid !== undefined) ctx.addIssue({ code: 'custom', message: 'expected exactly one of "name" or "pid", got both' });
  if (p.name === undefined && p.pid === undefined) ctx.addIssue({ code: 'custom', message: 'expected exactly one of "name" (a process name) or "pid" (a process id)' });
});

/** A cleanup younger than this would race files still being written. */
const MIN_CLEANUP_AGE_MS = 60_000;

const diskCleanupParams = z.strictObject({
  /** A directory (or one file) under one of the agent's `cleanupRoots`. */
  path: z.string({ error: 'expected an absolute path like "/var/log/app"' }).max(4096, 'must be at most 4096 characters')
    .refine((p) => isAbsolute(p) && !p.includes('\0'), 'expected an absolute path like "/var/log/app"'),
  /** Rules carry the string ("7d"); the parsed params hold milliseconds. */
  olderThan: z.string({ error: (issue) => `expected a duration like "7d", got ${JSON.stringify(issue.input)}` })
    .pipe(durationSchema)
    .pipe(z.number().min(MIN_CLEANUP_AGE_MS, 'must be at least "1m": younger files may still be in use')),
  /** Matched against each file's base name: "*" is any run of characters, "?" any one; nothing else is special. */
  pattern: z.string({ error: 'expected a file name pattern like "*.log"' }).min(1, 'must not be empty').max(255)
    .regex(/^[^/\0]+$/, 'expected a pattern on the file name alone (no "/"), like "*.log"').default('*'),
  dryRun: z.boolean({ error: 'expected true or false' }).default(false),
  recursive: z.boolean({ error: 'expected true or false' }).default(true),
});

/**
 * The action catalogue: every instruction an agent may be asked to run, with its parameter
 * schema. The controller checks rules against it at load (a bad rule fails then, not when it
 * fires); the agent checks every instruction against it again before running anything.
 */
export const ACTIONS = {
  'service.restart': {
    description: 'restart a service named in the agent config (its restart command, or systemctl for systemd probes)',
    params: z.strictObject({ service: z.string().min(1).max(200) }),
    defaultTimeoutMs: 60_000,
  },
  'script.run': {
    description: 'run a script named in the agent config',
    params: z.strictObject({ name: z.string().min(1).max(200) }),
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
export type ActionParams<A extends ActionName> = z.infer<(typeof ACTIONS)[A]['params']>;

export function isActionName(name: string): name is ActionName {
  return Object.hasOwn(ACTIONS, name);
}

export const ACTION_NAMES = Object.keys(ACTIONS) as ActionName[];
