import { CHECK_STATES, formatDuration, type Sample } from '../../../protocol/index.js';
import { runCommand, type CommandResult } from '../../actions/exec.js';
import type { CheckConfig } from './config.js';
import { MAX_LONG_OUTPUT, MAX_OUTPUT, cut, parsePluginOutput } from './output.js';

export type CheckFact = NonNullable<Sample['check']>[string];

/** What a plugin may print before the rest is read and dropped: a plugin printing megabytes must not grow the agent. */
export const MAX_PLUGIN_OUTPUT = 65_536;
/** A stderr line is only a hint when stdout is empty: a little is enough. */
const MAX_STDERR = 4096;
/** Between SIGTERM to the plugin's process group and SIGKILL, after a timeout. */
const KILL_GRACE_MS = 1000;

export interface RunOptions {
  env: NodeJS.ProcessEnv;
  /** Aborted when the source stops: the plugin's group is killed. */
  signal?: AbortSignal;
  now?: () => number;
  maxOutputBytes?: number;
}

/** Runs one check and reads its result the Monitoring Plugins way; never rejects. */
export async function runCheck(check: CheckConfig, opts: RunOptions): Promise<CheckFact> {
  const r = await runCommand(check.command, {
    timeoutMs: check.timeoutMs,
    maxOutputBytes: opts.maxOutputBytes ?? MAX_PLUGIN_OUTPUT,
    // Plugins print numbers as C does ("0.5", not "0,5"), as Icinga makes them.
    env: { ...opts.env, LC_NUMERIC: 'C' },
    killGraceMs: KILL_GRACE_MS,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return toFact(check, r, (opts.now ?? Date.now)());
}

/** Exit 0/1/2/3 are ok/warning/critical/unknown; anything else (127, a signal, a timeout) is unknown with the reason. */
export function toFact(check: CheckConfig, r: CommandResult, at: number): CheckFact {
  const durationMs = Math.max(0, Math.round(r.durationMs));
  const base = { durationMs, at };
  if (r.spawnError !== undefined) return unknown(`cannot start ${check.command[0]}: ${r.spawnError}`, base);
  const stdout = r.stdout.trim() === '' && r.stderr.trim() !== '' ? r.stderr.slice(0, MAX_STDERR) : r.stdout;
  const parsed = parsePluginOutput(stdout);
  const text = parsed.output === '' ? '(no output)' : parsed.output;
  const note = `(output cut at ${MAX_PLUGIN_OUTPUT} bytes)`;
  const longOutput = !r.truncated
    ? parsed.longOutput
    : parsed.longOutput === undefined
      ? note
      : `${cut(parsed.longOutput, MAX_LONG_OUTPUT - note.length - 1)}\n${note}`;
  const rest = { perf: parsed.perf, ...(longOutput !== undefined ? { longOutput } : {}), ...base };
  if (r.timedOut) {
    // What the plugin printed before it was stopped may say where it hung.
    const said = [parsed.output, longOutput].filter((s) => s !== undefined && s !== '').join('\n');
    return unknown(`timed out after ${formatDuration(check.timeoutMs)}`, { ...rest, ...(said !== '' ? { longOutput: cut(said, MAX_LONG_OUTPUT) } : {}) });
  }
  if (r.exitCode !== null && r.exitCode >= 0 && r.exitCode <= 3) {
    return { status: r.exitCode, state: CHECK_STATES[r.exitCode], output: text, ...rest };
  }
  const why = r.exitCode !== null ? `exited with code ${r.exitCode}${r.exitCode === 127 ? ' (command not found)' : ''}` : `killed by ${r.signal ?? 'a signal'}`;
  return unknown(parsed.output === '' ? why : `${why}: ${parsed.output}`, rest);
}

function unknown(reason: string, rest: Pick<CheckFact, 'durationMs' | 'at'> & Partial<Pick<CheckFact, 'perf' | 'longOutput'>>): CheckFact {
  return { status: 3, state: 'unknown', output: cut(reason, MAX_OUTPUT), perf: {}, ...rest };
}
