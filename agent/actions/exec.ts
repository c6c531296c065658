import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { ErrorCode } from '../../protocol/index.js';
import { childEnv } from '../child-env.js';
import type { ActionOutput } from './types.js';

/** Longest error message a result carries (the wire's limit). */
const MAX_ERROR_MESSAGE = 2000;

export interface CommandOptions {
  timeoutMs: number;
  /** Cap per stream; the rest is read and dropped so the child never blocks on a full pipe. */
  maxOutputBytes: number;
  /** The command's whole environment; default: the agent's allow-listed few (child-env.ts), never all of it. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Between SIGTERM and SIGKILL after a timeout. */
  killGraceMs?: number;
  /** How long to wait for the pipes to close after the command exited. */
  closeGraceMs?: number;
  /** Stops the command as a timeout would (SIGTERM to its group, SIGKILL after the grace), e.g. when the agent stops. */
  signal?: AbortSignal;
}

export interface CommandResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  timedOut: boolean;
  durationMs: number;
  /** Also the process group id: the command runs in a group of its own. */
  pid?: number;
  /** Set when the command could not be started at all (e.g. ENOENT); nothing ran. */
  spawnError?: string;
}

/**
 * Runs an argument vector (never a shell) with a timeout and capped output; never rejects.
 *
 * The command gets a process group of its own so a timeout can stop everything it started.
 * It resolves shortly after the command exits even if a daemon it launched still holds the
 * pipes; those are then drained in the background rather than closed, since a daemon writing
 * to a closed pipe would die of SIGPIPE.
 */
export function runCommand(argv: readonly string[], opts: CommandOptions): Promise<CommandResult> {
  const started = performance.now();
  const killGraceMs = opts.killGraceMs ?? 2000;
  const closeGraceMs = opts.closeGraceMs ?? 100;
  const empty = { exitCode: null, signal: null, stdout: '', stderr: '', truncated: false, timedOut: false };
  if (argv.length === 0 || !argv[0]) {
    return Promise.resolve({ ...empty, durationMs: 0, spawnError: 'empty argument vector' });
  }
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(argv[0], argv.slice(1), {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: opts.env ?? childEnv(process.env),
        cwd: opts.cwd,
        detached: true,
        windowsHide: true,
      });
    } catch (e) {
      // Synchronous refusals, e.g. a NUL byte in an argument.
      resolve({ ...empty, durationMs: performance.now() - started, spawnError: (e as Error).message });
      return;
    }
    const stdout = capture(child.stdout, opts.maxOutputBytes);
    const stderr = capture(child.stderr, opts.maxOutputBytes);
    let exit: { code: number | null; signal: string | null } | undefined;
    let timedOut = false;
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;
    let closeTimer: NodeJS.Timeout | undefined;

    const signalGroup = (signal: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        try {
          child.kill(signal);
        } catch {
          /* already gone */
        }
      }
    };

    const stop = () => {
      if (timedOut || exit) return;
      timedOut = true;
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), killGraceMs);
      killTimer.unref();
    };
    const termTimer = setTimeout(stop, opts.timeoutMs);
    if (opts.signal?.aborted) stop();
    else opts.signal?.addEventListener('abort', stop, { once: true });

    const finish = (spawnError?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(termTimer);
      opts.signal?.removeEventListener('abort', stop);
      clearTimeout(closeTimer);
      // Whatever still holds the pipes must not keep the agent alive or see them closed.
      for (const s of [child.stdout, child.stderr]) (s as Socket | null)?.unref(); // pipes are sockets
      resolve({
        exitCode: exit?.code ?? null,
        signal: exit?.signal ?? null,
        stdout: stdout.text(),
        stderr: stderr.text(),
        truncated: stdout.truncated || stderr.truncated,
        timedOut,
        durationMs: performance.now() - started,
        ...(child.pid !== undefined ? { pid: child.pid } : {}),
        ...(spawnError !== undefined ? { spawnError } : {}),
      });
    };

    child.on('error', (e) => {
      // After a successful spawn an 'error' means a failed kill; the command still runs.
      if (child.pid === undefined) finish(e.message);
    });
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      if (!timedOut) clearTimeout(killTimer);
      clearTimeout(termTimer);
      closeTimer = setTimeout(() => finish(), closeGraceMs);
    });
    child.once('close', () => finish());
  });
}

/** Keeps the first `cap` bytes of a stream and keeps reading (discarding) the rest. */
function capture(stream: Readable | null, cap: number): { text(): string; truncated: boolean } {
  const chunks: Buffer[] = [];
  let size = 0;
  const state = {
    truncated: false,
    text: () => Buffer.concat(chunks).toString('utf8'),
  };
  if (!stream) return state;
  stream.on('data', (chunk: Buffer) => {
    if (size >= cap) {
      state.truncated = true;
      return;
    }
    const room = cap - size;
    if (chunk.length > room) {
      state.truncated = true;
      chunk = chunk.subarray(0, room);
    }
    chunks.push(chunk);
    size += chunk.length;
  });
  stream.on('error', () => {
    /* the pipe broke: keep what we have */
  });
  return state;
}

/** A refusal: nothing ran, and the error says why with a stable code. */
export function refuse(code: ErrorCode, message: string): ActionOutput {
  return {
    outcome: 'refused',
    exitCode: null,
    signal: null,
    stdout: '',
    stderr: '',
    truncated: false,
    error: { code, message: message.slice(0, MAX_ERROR_MESSAGE) },
  };
}

/** Maps a finished command to an outcome: exit 0 succeeded, a timeout timed out, anything else failed. */
export function commandOutput(r: CommandResult): ActionOutput {
  return {
    outcome: r.timedOut ? 'timed-out' : r.spawnError === undefined && r.exitCode === 0 ? 'succeeded' : 'failed',
    exitCode: r.exitCode,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    truncated: r.truncated,
    ...(r.spawnError !== undefined
      ? { error: { code: 'ACTION_SPAWN_FAILED' satisfies ErrorCode, message: `cannot start the command: ${r.spawnError}`.slice(0, MAX_ERROR_MESSAGE) } }
      : {}),
  };
}
