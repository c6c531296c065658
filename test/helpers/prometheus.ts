import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './procs.js';

/** The Debian package's binary (CI installs it, .ci/run), or the one LAAS_PROMETHEUS_BIN names. */
export const PROMETHEUS = process.env.LAAS_PROMETHEUS_BIN ?? '/usr/bin/prometheus';
export const HAVE_PROMETHEUS = existsSync(PROMETHEUS);

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

/**
 * A real Prometheus on 127.0.0.1:`port` with its data in `dir`, scraping nothing, taking
 * remote-write at /api/v1/write. stop() and a new startPrometheus() on the same port and dir
 * bring the same server back (its data kept), as a receiver restarting after an outage.
 */
export async function startPrometheus(
  port: number,
  dir: string,
): Promise<{ url: string; writeUrl: string; child: ChildProcess; log(): string; stop(): Promise<void> }> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'prometheus.yml'), 'global:\n  scrape_interval: 15s\n');
  let log = '';
  const child = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-remote-write-receiver',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  try {
    await waitFor(
      `Prometheus ready on ${url}`,
      async () => {
        if (child.exitCode !== null) throw new Error(`Prometheus exited ${child.exitCode}: ${log}`);
        return (await fetch(`${url}/-/ready`)).ok;
      },
      30_000,
      100,
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, writeUrl: `${url}/api/v1/write`, child, log: () => log, stop };
}

/** An instant query at the present moment, through Prometheus' HTTP API. */
export async function promQuery(url: string, expr: string): Promise<PromSample[]> {
  const res = await fetch(`${url}/api/v1/query`, { method: 'POST', body: new URLSearchParams({ query: expr, time: String(Date.now() / 1000) }) });
  const body = (await res.json()) as { status: string; error?: string; data?: { result: PromSample[] } };
  if (body.status !== 'success') throw new Error(`Prometheus refused ${expr}: ${body.error}`);
  return body.data!.result;
}
