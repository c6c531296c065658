import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';

/**
 * The demo service that `laas up` watches and heals: a tiny HTTP server. `start` behaves like
 * an init script — it launches the server detached, waits until it answers, and exits 0.
 */
export async function demoStart(cliPath: string, port: number, pidfile: string): Promise<number> {
  if (await answers(port)) return 0;
  mkdirSync(dirname(pidfile), { recursive: true });
  // The server is a file of its own with no dependencies, so it is up in tens of milliseconds.
  const child = spawn(process.execPath, [join(dirname(cliPath), 'demo-service.js'), String(port), pidfile], { detached: true, stdio: 'ignore' });
  child.unref();
  for (let i = 0; i < 500; i++) {
    if (await answers(port)) return 0;
    await new Promise((r) => setTimeout(r, 10));
  }
  process.stderr.write(`demo service did not answer on 127.0.0.1:${port} within 5s\n`);
  return 1;
}

export function demoStop(pidfile: string): number {
  try {
    process.kill(Number(readFileSync(pidfile, 'utf8')), 'SIGKILL');
    return 0;
  } catch (e) {
    process.stderr.write(`no demo service to stop (${(e as Error).message})\n`);
    return 1;
  }
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.setTimeout(500);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}
