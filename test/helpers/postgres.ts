import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, onPath, waitFor } from './procs.js';

/**
 * A real PostgreSQL for a test file. With LAAS_TEST_PG_URL set, that server is used; otherwise
 * a throwaway cluster is made with initdb in a temp dir and served on a free 127.0.0.1 port
 * (as an unprivileged user when we run as root). Either way each test file gets a fresh
 * database, dropped again by stop().
 */
export interface TestPostgres {
  /** URL of this file's fresh database. */
  url: string;
  /** A second fresh database on the same server (e.g. for a migrate target). */
  createDatabase(): Promise<string>;
  stop(): Promise<void>;
}

/** The cluster secret test controllers on PostgreSQL share ("cluster": {"secret"}: required with that store). */
export const CLUSTER_SECRET = 'cluster-secret-for-tests-0123456789abcdef';

/**
 * Why PostgreSQL tests cannot run here, or undefined when they can. Under CI=true a missing
 * server is a failure, not a skip: this throws.
 */
export function postgresMissing(): string | undefined {
  if (process.env.LAAS_TEST_PG_URL) return undefined;
  if (pgBinDir()) return undefined;
  const reason = 'PostgreSQL server binaries not found (install the Debian package "postgresql", or set LAAS_TEST_PG_URL)';
  if (process.env.CI) throw new Error(`CI: ${reason}`);
  console.warn(`skipping PostgreSQL tests: ${reason}`);
  return reason;
}

/** initdb/postgres from LAAS_TEST_PG_BIN, the newest /usr/lib/postgresql/N/bin, or PATH. */
function pgBinDir(): string | undefined {
  const env = process.env.LAAS_TEST_PG_BIN;
  if (env && existsSync(join(env, 'initdb'))) return env;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(join(root, v, 'bin', 'initdb'))) return join(root, v, 'bin');
  }
  const found = onPath('initdb');
  return found ? join(found, '..') : undefined;
}

export async function startPostgres(): Promise<TestPostgres> {
  const server = process.env.LAAS_TEST_PG_URL ? { adminUrl: process.env.LAAS_TEST_PG_URL, stop: async () => undefined } : await startCluster();
  const made: string[] = [];
  const createDatabase = async (): Promise<string> => {
    const name = `laas_test_${randomBytes(6).toString('hex')}`;
    await admin(server.adminUrl, `CREATE DATABASE ${name}`);
    made.push(name);
    const u = new URL(server.adminUrl);
    u.pathname = `/${name}`;
    return u.toString();
  };
  try {
    const url = await createDatabase();
    return {
      url,
      createDatabase,
      async stop() {
        try {
          for (const name of made) await admin(server.adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
        } finally {
          await server.stop();
        }
      },
    };
  } catch (e) {
    await server.stop();
    throw e;
  }
}

async function admin(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A private cluster: initdb into a temp dir, postgres on a free port, trust auth on 127.0.0.1 only. */
async function startCluster(): Promise<{ adminUrl: string; stop(): Promise<void> }> {
  const bin = pgBinDir();
  if (!bin) throw new Error('PostgreSQL server binaries not found; install "postgresql" or set LAAS_TEST_PG_URL');
  const dir = mkdtempSync(join(tmpdir(), 'laas-pg-'));
  const data = join(dir, 'data');
  // PostgreSQL refuses to run as root: run it as the "postgres" user (or nobody) when we are root.
  const asUser = process.getuid?.() === 0 ? unprivileged() : undefined;
  if (asUser) chownSync(dir, asUser.uid, asUser.gid);
  const wrap = (cmd: string, args: string[]): [string, string[]] =>
    asUser ? ['setpriv', [`--reuid=${asUser.uid}`, `--regid=${asUser.gid}`, '--clear-groups', cmd, ...args]] : [cmd, args];
  const [initCmd, initArgs] = wrap(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const init = spawnSync(initCmd, initArgs, { encoding: 'utf8', timeout: 60_000 });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status}): ${init.stderr || init.stdout || init.error?.message}`);
  }
  const port = await freePort();
  const [cmd, args] = wrap(join(bin, 'postgres'), [
    '-D',
    data,
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    'fsync=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'max_connections=200',
    '-c',
    'shared_buffers=32MB',
  ]);
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT'); // fast shutdown
      const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'PostgreSQL to accept connections',
      async () => {
        if (child.exitCode !== null) throw new Error(`postgres exited ${child.exitCode}: ${log}`);
        await admin(adminUrl, 'SELECT 1');
        return true;
      },
      30_000,
      100,
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { adminUrl, stop };
}

function unprivileged(): { uid: number; gid: number } {
  for (const user of ['postgres', 'nobody']) {
    const uid = spawnSync('id', ['-u', user], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', user], { encoding: 'utf8' });
    if (uid.status === 0 && gid.status === 0) return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  }
  throw new Error('running as root and neither a "postgres" nor a "nobody" user exists to run PostgreSQL as');
}
