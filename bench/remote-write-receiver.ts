import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/procs.js';
import { HAVE_PROMETHEUS, PROMETHEUS, startPrometheus } from '../test/helpers/prometheus.js';

// The receiving side of bench/remote-write.ts: what it sends to, and how each request is timed.

/** Wraps fetch to time each request (to the response's end: the writer reads the body) and weigh its body. */
export function timeRequests(): { ms: number[]; bytes: number[]; failures: number; restore(): void } {
  const real = globalThis.fetch;
  const seen = { ms: [] as number[], bytes: [] as number[], failures: 0, restore: () => void (globalThis.fetch = real) };
  globalThis.fetch = async (input, init) => {
    const t0 = performance.now();
    try {
      const res = await real(input, init);
      await res.clone().arrayBuffer();
      seen.ms.push(performance.now() - t0);
      seen.bytes.push((init?.body as Uint8Array | undefined)?.byteLength ?? 0);
      if (!res.ok) seen.failures++;
      return res;
    } catch (e) {
      seen.failures++;
      throw e;
    }
  };
  return seen;
}

export interface Receiver {
  writeUrl: string;
  pid: number;
  log(): string;
  stop(): Promise<void>;
}

/** A real Prometheus in a fresh data folder, or the null receiver (null-receiver.ts) in a child process. */
export async function startReceiver(kind: string): Promise<Receiver> {
  if (kind === 'prometheus') {
    if (!HAVE_PROMETHEUS) throw new Error(`no Prometheus at ${PROMETHEUS} (apt-get install -y prometheus)`);
    const dir = mkdtempSync(join(tmpdir(), 'laas-rw-bench-'));
    const prom = await startPrometheus(await freePort(), dir);
    return {
      writeUrl: prom.writeUrl,
      pid: prom.child.pid!,
      log: () => prom.log().slice(-2000),
      stop: async () => {
        await prom.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  if (kind !== 'null') throw new Error(`--receiver prometheus|null, not ${kind}`);
  const child = fork(join(dirname(fileURLToPath(import.meta.url)), 'null-receiver.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`null receiver exited ${code}`)));
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    writeUrl: `http://127.0.0.1:${port}/api/v1/write`,
    pid: child.pid!,
    log: () => '',
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
