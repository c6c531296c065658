import { readFile } from 'node:fs/promises';
import { errorMessage, type ErrorCode } from '../../protocol/index.js';
import { findProcesses, readStat } from '../probes/process.js';
import { refuse } from './exec.js';
import type { ActionHandler, ActionOutput } from './types.js';

/** How many per-process problems stderr lists before "… and N more". */
const MAX_LISTED = 10;

/**
 * Sends a signal to one process by pid, or to every live process with a name (matched as the
 * `process` probe matches it). Never signals pid 1, the agent itself or its parent: a rule that
 * names them is refused, and a name that also matches them skips them.
 *
 * A pid is only a name for a process until that process dies; then the kernel may give it to
 * another. So the process meant is the one seen when the victim was chosen (by name, or the
 * pid's owner when the instruction arrived): its start time is noted then and checked again
 * right before the signal, and a pid that changed hands meanwhile is not signalled. Node has no
 * pidfd to close the last microseconds; the start time (in clock ticks) cannot tell two
 * processes started in the same tick apart. Without /proc (not Linux) there is no such check.
 */
export const processKill: ActionHandler<'process.kill'> = async (params, ctx) => {
  const { signal } = params;
  const forbidden = forbiddenPids();

  if (params.pid !== undefined) {
    const pid = params.pid;
    const seen = await startTimeOf(pid);
    // A thread id signals its whole process: judge the process, not the thread.
    const tgid = await threadGroupOf(pid);
    const why = whyForbidden(pid, forbidden) ?? (tgid !== undefined && tgid !== pid ? whyForbidden(tgid, forbidden) : undefined);
    if (why) return refuse('ACTION_NOT_ALLOWED', `pid ${pid} is ${why}; the agent never signals it`);
    if (process.platform === 'linux' && seen === undefined) return failed('ACTION_TARGET_NOT_FOUND', `no process ${pid}`);
    const err = await signalIfSame(pid, seen, signal);
    if (err === 'REUSED')
      return failed('ACTION_TARGET_NOT_FOUND', `process ${pid} exited while the agent checked it, and its pid now belongs to another process; not signalled`);
    if (err === 'ESRCH') return failed('ACTION_TARGET_NOT_FOUND', `no process ${pid}`);
    if (err === 'EPERM') return failed('ACTION_PERMISSION_DENIED', `not permitted to send ${signal} to process ${pid}`);
    if (err) return failed('ACTION_INTERNAL_ERROR', `cannot send ${signal} to process ${pid}: ${err}`);
    ctx.log.info({ pid, signal }, 'signalled process');
    return succeeded(`signalled 1 process(es): ${pid}\n`, '');
  }

  const name = params.name!;
  let found;
  try {
    found = await findProcesses(name, { deadline: Date.now() + ctx.timeoutMs });
  } catch (e) {
    return failed('ACTION_PERMISSION_DENIED', `cannot read the process list: ${errorMessage(e)}`);
  }
  const notes: string[] = [];
  if (!found.complete) notes.push(`process list not read within ${ctx.timeoutMs}ms: only the processes found so far were signalled`);
  const targets: number[] = [];
  for (const pid of found.pids) {
    const why = whyForbidden(pid, forbidden);
    if (why) notes.push(`skipped pid ${pid}: ${why}`);
    else targets.push(pid);
  }
  if (found.pids.length === 0) {
    return failed('ACTION_TARGET_NOT_FOUND', found.zombies > 0 ? `only zombie processes named ${name}` : `no process named ${name}`);
  }
  if (targets.length === 0) {
    return refuse('ACTION_NOT_ALLOWED', `every process named ${name} is one the agent never signals (${notes.join('; ')})`);
  }

  const signalled: number[] = [];
  const problems: string[] = [];
  let gone = 0;
  let denied = 0;
  for (const pid of targets) {
    const err = await signalIfSame(pid, found.startTimes.get(pid), signal);
    if (!err) signalled.push(pid);
    else if (err === 'ESRCH') {
      gone++;
      problems.push(`pid ${pid}: exited before it was signalled`);
    } else if (err === 'REUSED') {
      gone++;
      problems.push(`pid ${pid}: exited, and its pid was reused by another process, before it was signalled; not signalled`);
    } else if (err === 'EPERM') {
      denied++;
      problems.push(`pid ${pid}: not permitted to send ${signal}`);
    } else problems.push(`pid ${pid}: ${err}`);
  }
  const stderr = listed([...notes, ...problems]);
  if (signalled.length === 0) {
    const [code, message]: [ErrorCode, string] =
      denied > 0
        ? [
            'ACTION_PERMISSION_DENIED',
            `not permitted to send ${signal} to ${denied === targets.length ? 'any' : 'some'} process named ${name}; none was signalled`,
          ]
        : gone === targets.length
          ? ['ACTION_TARGET_NOT_FOUND', `no process named ${name} (every one exited before it was signalled)`]
          : ['ACTION_INTERNAL_ERROR', `no process named ${name} could be signalled`];
    return { ...failed(code, message), stderr };
  }
  ctx.log.info({ name, signal, pids: signalled }, 'signalled processes');
  return succeeded(`signalled ${signalled.length} process(es): ${signalled.join(' ')}\n`, stderr);
};

/** The pids no instruction may signal, with the reason. */
function forbiddenPids(): Map<number, string> {
  const m = new Map<number, string>([[process.pid, 'the agent itself']]);
  if (process.ppid > 1) m.set(process.ppid, "the agent's parent");
  return m;
}

function whyForbidden(pid: number, forbidden: Map<number, string>): string | undefined {
  if (pid <= 1) return pid === 1 ? 'init (pid 1)' : 'not a single process';
  return forbidden.get(pid);
}

/** The process a thread id belongs to (Linux); undefined when unknown or gone. */
async function threadGroupOf(pid: number): Promise<number | undefined> {
  if (process.platform !== 'linux') return undefined;
  try {
    const m = /^Tgid:\s*(\d+)$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** A process's start time (clock ticks after boot) on Linux; undefined when it is gone or unknown. */
export async function startTimeOf(pid: number): Promise<string | undefined> {
  if (process.platform !== 'linux') return undefined;
  const start = (await readStat(pid))?.start;
  return start || undefined;
}

/**
 * Signals `pid` only if it is still the process that started at `seen` (see processKill):
 * 'REUSED' when the pid now belongs to another process, 'ESRCH' when none; undefined when sent.
 * With `seen` unknown (no /proc) it signals unchecked.
 */
export async function signalIfSame(pid: number, seen: string | undefined, signal: NodeJS.Signals): Promise<string | undefined> {
  if (seen !== undefined) {
    const now = await startTimeOf(pid);
    if (now === undefined) return 'ESRCH';
    if (now !== seen) return 'REUSED';
  }
  return send(pid, signal);
}

/** Sends the signal; returns the error code (ESRCH, EPERM, …) or undefined when it was sent. */
function send(pid: number, signal: NodeJS.Signals): string | undefined {
  try {
    process.kill(pid, signal);
    return undefined;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  }
}

function listed(lines: string[]): string {
  if (lines.length === 0) return '';
  const shown = lines.slice(0, MAX_LISTED);
  if (lines.length > MAX_LISTED) shown.push(`… and ${lines.length - MAX_LISTED} more`);
  return shown.join('\n') + '\n';
}

function succeeded(stdout: string, stderr: string): ActionOutput {
  return { outcome: 'succeeded', exitCode: null, signal: null, stdout, stderr, truncated: false };
}

function failed(code: ErrorCode, message: string): ActionOutput {
  return { outcome: 'failed', exitCode: null, signal: null, stdout: '', stderr: `${message}\n`, truncated: false, error: { code, message } };
}
