/**
 * What every anchor runner shares: finding the Debian binary, a scratch folder, a child
 * process that is stopped (SIGTERM, then SIGKILL) when the bench ends, and the dummy service.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The Debian package's binary, or an error that says how to get it (bench/anchors/install.sh). */
export function anchorBin(pkg: string, candidates: string[]): string {
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`${candidates.join(' or ')} not found: install the Debian package ${pkg} (sudo bench/anchors/install.sh)`);
  return found;
}

/** Whether a binary of the package is present (for benches that may skip an anchor outside CI). */
export function hasBin(candidates: string[]): boolean {
  return candidates.some((c) => existsSync(c));
}

export const BINS = {
  monit: ['/usr/bin/monit', '/usr/sbin/monit'],
  prometheus: ['/usr/bin/prometheus'],
  alertmanager: ['/usr/bin/prometheus-alertmanager'],
  nodeExporter: ['/usr/bin/prometheus-node-exporter'],
} as const;

export function scratch(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `laas-anchor-${prefix}-`));
}

export interface Child {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  stop(): Promise<void>;
}

const children = new Set<Child>();

/** Starts a binary with its stdio captured (the last 64 KiB kept, for error messages). */
export function run(bin: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Child {
  const child = spawn(bin, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-65_536);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const c: Child = {
    child,
    pid: child.pid ?? -1,
    output: () => out,
    async stop() {
      children.delete(c);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
  children.add(c);
  return c;
}

/**
 * Cleanup to run if the bench is interrupted (SIGINT/SIGTERM, e.g. a test's timeout), since a
 * signal ends the process without running its finally blocks.
 */
export function onInterrupt(cleanup: () => Promise<void>): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`${sig}: cleaning up\n`);
      const hard = setTimeout(() => process.exit(130), 10_000);
      void cleanup().finally(() => {
        clearTimeout(hard);
        process.exit(130);
      });
    });
  }
}

/** Stops every anchor process still running (for finally blocks). */
export async function stopAnchors(): Promise<void> {
  await Promise.all([...children].map((c) => c.stop()));
}

export function tcpOpen(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.setTimeout(timeoutMs);
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

/** Polls until `fn` is truthy; bounded in time. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | false | undefined | null> | T | false | undefined | null,
  timeoutMs = 15_000,
  everyMs = 20,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (${(last as Error).message})` : ''}`);
}

/** The start program shared by every tool: see demo-start.sh. */
export const DEMO_START = resolve('bench/anchors/demo-start.sh');

/** One instance of the dummy HTTP service (dist/cli/demo-service.js) on its own port. */
export interface DemoService {
  readonly name: string;
  readonly port: number;
  readonly pidfile: string;
  /** The start program as an argument vector (laas's "restart", Monit's "start program"). */
  readonly start: string[];
  pid(): number;
  kill(): void;
}

export function demoService(name: string, port: number, dir: string): DemoService {
  const pidfile = join(dir, `${name}.pid`);
  const pid = () => Number(readFileSync(pidfile, 'utf8'));
  return {
    name,
    port,
    pidfile,
    start: [DEMO_START, String(port), pidfile, process.execPath],
    pid,
    kill() {
      try {
        process.kill(pid(), 'SIGKILL');
      } catch {
        /* gone */
      }
    },
  };
}

/** Starts the service with its own start program and waits until it answers. */
export async function startDemo(svc: DemoService): Promise<void> {
  const c = run(svc.start[0], svc.start.slice(1));
  const code = await new Promise<number | null>((r) => c.child.once('exit', (n) => r(n)));
  children.delete(c);
  if (code !== 0) throw new Error(`demo service ${svc.name} did not start: ${c.output()}`);
  await until(`${svc.name} answering`, () => tcpOpen(svc.port), 10_000);
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
