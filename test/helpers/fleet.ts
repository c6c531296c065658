import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, freePort, laas, laasRun, waitFor, type Proc } from './procs.js';

export const AGENT_TOKEN = 'agent-token-for-tests-0123456789';
/** The API token a controller off loopback gets when a test names none (it refuses to start without one). */
export const FLEET_API_TOKEN = 'api-token-for-tests-0123456789ab';

/** A scratch folder with a controller config, rules and agent configs, for end-to-end tests. */
export class Fleet {
  readonly dir = mkdtempSync(join(tmpdir(), 'laas-e2e-'));
  readonly rulesDir = join(this.dir, 'rules');
  readonly dataDir = join(this.dir, 'data');
  port = 0;
  controller?: Proc;
  /** Sent as the bearer token by fetch() when a request carries no authorization of its own. */
  apiToken: string | undefined;
  /** Set when the controller serves TLS: its scheme and the CA to trust. */
  private tls: { ca: string } | undefined;
  /** The address the controller listens on, when not loopback (e.g. a veth address for netns tests). */
  private host: string | undefined;
  /**
   * The controller's signing public key (PEM), as it serves it once started: every agent
   * startAgent makes pins it, as an agent on a shared token must to run instructions.
   */
  signingKey: string | undefined;

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://${this.host ?? (this.tls ? 'localhost' : '127.0.0.1')}:${this.port}`;
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

  async startController(extra: Record<string, unknown> = {}, opts: { https?: boolean; ca?: string; host?: string } = {}): Promise<Proc> {
    this.tls = opts.https ? { ca: opts.ca! } : undefined;
    this.host = opts.host;
    if (!this.port) this.port = await freePort();
    mkdirSync(this.rulesDir, { recursive: true });
    if (opts.host && extra.apiTokens === undefined) {
      extra = { ...extra, apiTokens: [{ name: 'tests', token: FLEET_API_TOKEN, role: 'admin' }] };
      this.apiToken = FLEET_API_TOKEN;
    }
    const file = this.writeRaw(
      'controller.json',
      JSON.stringify(
        {
          listen: `${opts.host ?? '127.0.0.1'}:${this.port}`,
          dataDir: './data',
          rulesDir: './rules',
          agentTokens: [AGENT_TOKEN],
          hostDownAfter: '3s',
          ...extra,
        },
        null,
        2,
      ),
    );
    const proc = laas(['controller', '--config', file]);
    this.controller = proc;
    await waitFor('controller /healthz', async () => {
      if (proc.child.exitCode !== null) throw new Error(`controller exited ${proc.child.exitCode}: ${proc.stderr()}`);
      return (await this.fetch('/healthz')).ok;
    });
    this.signingKey = ((await (await this.fetch('/v1/signing-key')).json()) as { signingKey: string }).signingKey;
    return proc;
  }

  /** fetch() against the controller, trusting its CA when it serves TLS (Node's fetch cannot be given a CA). */
  async fetch(
    path: string,
    init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ): Promise<{ status: number; ok: boolean; json(): Promise<unknown>; text(): Promise<string> }> {
    // As the laas CLI calls it: JSON on every state-changing request, and the fleet's token if any.
    const given = Object.keys(init.headers ?? {}).map((k) => k.toLowerCase());
    init = {
      ...init,
      headers: {
        ...(this.apiToken && !given.includes('authorization') ? { authorization: `Bearer ${this.apiToken}` } : {}),
        ...(init.method && init.method !== 'GET' && !given.includes('content-type') ? { 'content-type': 'application/json' } : {}),
        ...init.headers,
      },
    };
    if (!this.tls) {
      const r = await fetch(`${this.url}${path}`, init);
      return r;
    }
    const url = new URL(path, this.url);
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpsRequest(url, { method: init.method ?? 'GET', headers: init.headers, ca: this.tls!.ca }, (res) => {
        let t = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          t += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: t }));
      });
      req.on('error', reject);
      req.end(init.body);
    });
    return { status, ok: status >= 200 && status < 300, json: async () => JSON.parse(text), text: async () => text };
  }

  async apiAuth<T = unknown>(path: string, token: string): Promise<T> {
    return (await (await this.fetch(path, { headers: { authorization: `Bearer ${token}` } })).json()) as T;
  }

  /**
   * Starts a real agent on the shared token, pinning the controller's signing key (a config
   * that names its own `signingKey` or `controllerKey`, e.g. of a test's fake controller, keeps
   * it; one that enrolls pins the key enrollment gives).
   */
  startAgent(id: string, config: Record<string, unknown> = {}): Proc {
    const file = this.writeRaw(
      `agent-${id}.json`,
      JSON.stringify(
        {
          controller: `ws://127.0.0.1:${this.port}`,
          token: AGENT_TOKEN,
          id,
          labels: { role: 'web' },
          interval: '2s',
          reconnect: { min: '100ms', max: '1s' },
          ...this.pin(config),
          ...config,
        },
        null,
        2,
      ),
    );
    return laas(['agent', '--config', file]);
  }

  /**
   * `signingKey` for an agent config on the shared token that pins none of its own (one that
   * enrolls gets the key from enrollment); throws before any controller started.
   */
  pin(config: Record<string, unknown> = {}): { signingKey?: string } {
    if (config.signingKey !== undefined || config.controllerKey !== undefined || config.enrollToken !== undefined) return {};
    if (!this.signingKey) throw new Error('no signing key to pin yet: start the controller first, or give the agent a "signingKey"');
    return { signingKey: this.signingKey };
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

  async api<T = unknown>(path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<T> {
    return (await (await this.fetch(path, init)).json()) as T;
  }

  /**
   * A restart (or script) command that first waits `seconds` (so a test can act while it runs)
   * and counts each run in a file; `runs()` reads the count.
   */
  slowRestart(restart: string[], seconds: number, name = `restarts-${seconds}`): { argv: string[]; runs: () => number; file: string } {
    const file = join(this.dir, name);
    const argv = ['sh', '-c', `echo x >> "$0"; sleep ${seconds}; shift; exec "$@"`, file, 'next', ...restart];
    return {
      argv,
      file,
      runs: () => {
        try {
          return readFileSync(file, 'utf8').trim().split('\n').length;
        } catch {
          return 0;
        }
      },
    };
  }

  /** Waits until the controller lists the host (any host, without an id) as connected. */
  async hostConnected(id?: string, timeoutMs = 20_000): Promise<void> {
    await waitFor(
      `${id ?? 'an agent'} connected`,
      async () => (await this.api<{ id: string; connected: boolean }[]>('/api/v1/hosts')).some((h) => (id === undefined || h.id === id) && h.connected),
      timeoutMs,
    );
  }

  /** Waits for a work order on the host whose first step the agent has accepted, and returns it. */
  async healAccepted<H extends { steps: { ackedAt: string | null }[] }>(host: string, timeoutMs = 15_000): Promise<H> {
    return waitFor(
      `a heal on ${host} accepted by its agent`,
      async () => (await this.api<H[]>(`/api/v1/heals?host=${encodeURIComponent(host)}`)).find((h) => h.steps[0]?.ackedAt),
      timeoutMs,
      20,
    );
  }

  async cleanup(): Promise<void> {
    for (const pid of this.pids) {
      try {
        process.kill(pid(), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
