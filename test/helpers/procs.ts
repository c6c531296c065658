import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { delimiter, join, resolve } from 'node:path';

export const CLI = resolve('dist/cli/main.js');

/** The path of an executable found on PATH, or undefined: no shell involved. */
export function onPath(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const file = join(dir, cmd);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/**
 * Ports handed out by freePort(): below the kernel's ephemeral range (32768–60999 here), so no
 * outgoing connection and no listen(0) elsewhere can take one between freePort() and the bind;
 * each vitest worker (VITEST_POOL_ID) has a block of its own, so two workers never pick the same.
 * A port asked of the kernel (listen 0) and released could be given again at once to any
 * process: a controller then failed with EADDRINUSE, or a test talked to another test's controller.
 */
const PORT_BLOCK = 1000;
const PORT_BASE = 20_000;
const PORT_BLOCKS = 12;
let portCursor = 0;

/** A free TCP port on 127.0.0.1 (checked by binding it, then released for the caller to use). */
export async function freePort(): Promise<number> {
  const worker = Number(process.env.VITEST_POOL_ID ?? process.pid);
  const base = PORT_BASE + (worker % PORT_BLOCKS) * PORT_BLOCK;
  for (let tries = 0; tries < PORT_BLOCK; tries++) {
    const port = base + (portCursor++ % PORT_BLOCK);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${base}–${base + PORT_BLOCK - 1}`);
}

function bindable(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

/** Polls until `fn` returns a truthy value; bounded in time, with the last error in the message. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false | null> | T | undefined | false | null,
  timeoutMs = 15_000,
  everyMs = 50,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

export interface Proc {
  child: ChildProcess;
  /** Everything the process wrote to stderr (its structured log) so far. */
  stderr(): string;
  stdout(): string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<Proc>();

/** Starts `laas <args>` as a real child process; killed by stopAll() if a test forgets. */
export function laas(args: string[], env: Record<string, string> = {}): Proc {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does it)`);
  return track(spawn(process.execPath, [CLI, ...args], { env: { ...process.env, LAAS_LOG_LEVEL: 'debug', ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Wraps a spawned child (stdio piped) as a Proc: output kept, stop() with a SIGKILL fallback, stopped by stopAll(). */
export function track(child: ChildProcess): Proc {
  let err = '';
  let out = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const proc: Proc = {
    child,
    stderr: () => err,
    stdout: () => out,
    exited,
    async stop(signal = 'SIGTERM') {
      running.delete(proc);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      return child.exitCode;
    },
  };
  running.add(proc);
  return proc;
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

/** Runs `laas <args>` to completion. */
export async function laasRun(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = laas(args, env);
  const code = await p.exited;
  running.delete(p);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

export function tcpAnswers(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.setTimeout(500);
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
    s.once('timeout', () => {
      s.destroy();
      res(false);
    });
  });
}

/** Log lines (JSON, pino's line shape) a process wrote, parsed. */
export function logLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    });
}
