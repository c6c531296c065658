import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, freePort, laas, laasRun, waitFor, type Proc } from './procs.js';

export const AGENT_TOKEN = 'agent-token-for-tests-0123456789';

/** A scratch folder with a controller config, rules and agent configs, for end-to-end tests. */
export class Fleet {
  readonly dir = mkdtempSync(join(tmpdir(), 'laas-e2e-'));
  readonly rulesDir = join(this.dir, 'rules');
  readonly dataDir = join(this.dir, 'data');
  port = 0;
  controller?: Proc;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  rule(namespace: string, name: string, rule: Record<string, unknown>): void {
    mkdirSync(join(this.rulesDir, namespace), { recursive: true });
    writeFileSync(join(this.rulesDir, namespace, `${name}.json`), JSON.stringify({ name, ...rule }, null, 2));
  }

  writeRaw(rel: string, text: string): string {
    const path = join(this.dir, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
    return path;
  }

  async startController(extra: Record<string, unknown> = {}): Promise<Proc> {
    if (!this.port) this.port = await freePort();
    mkdirSync(this.rulesDir, { recursive: true });
    const file = this.writeRaw('controller.json', JSON.stringify({
      listen: `127.0.0.1:${this.port}`, dataDir: './data', rulesDir: './rules', agentTokens: [AGENT_TOKEN], hostDownAfter: '3s', ...extra,
    }, null, 2));
    const proc = laas(['controller', '--config', file]);
    this.controller = proc;
    await waitFor('controller /healthz', async () => {
      if (proc.child.exitCode !== null) throw new Error(`controller exited ${proc.child.exitCode}: ${proc.stderr()}`);
      return (await fetch(`${this.url}/healthz`)).ok;
    });
    return proc;
  }

  startAgent(id: string, config: Record<string, unknown> = {}): Proc {
    const file = this.writeRaw(`agent-${id}.json`, JSON.stringify({
      controller: `ws://127.0.0.1:${this.port}`, token: AGENT_TOKEN, id, labels: { role: 'web' }, interval: '2s',
      reconnect: { min: '100ms', max: '1s' }, ...config,
    }, null, 2));
    return laas(['agent', '--config', file]);
  }

  /** A service for agents to watch: the demo HTTP server, started like an init script would. */
  async service(name: string): Promise<{ port: number; pidfile: string; restart: string[]; pid(): number }> {
    const port = await freePort();
    const pidfile = join(this.dir, `${name}.pid`);
    const restart = [process.execPath, CLI, 'demo', 'start', '--port', String(port), '--pidfile', pidfile];
    const r = await laasRun(restart.slice(2));
    if (r.code !== 0) throw new Error(`service ${name} did not start: ${r.stderr}`);
    const pid = () => Number(readFileSync(pidfile, 'utf8'));
    this.pids.push(pid);
    return { port, pidfile, restart, pid };
  }

  private readonly pids: (() => number)[] = [];

  async api<T = unknown>(path: string, init: RequestInit = {}): Promise<T> {
    const res = await fetch(`${this.url}${path}`, init);
    return (await res.json()) as T;
  }

  async cleanup(): Promise<void> {
    for (const pid of this.pids) {
      try { process.kill(pid(), 'SIGKILL'); } catch { /* already gone */ }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
