import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runInstruction } from '../../../agent/actions/index.js';
import { childEnv } from '../../../agent/child-env.js';
import { parseAgentConfig } from '../../../agent/config.js';
import { PROBES } from '../../../agent/probes/index.js';
import { ServiceWatcher } from '../../../agent/services.js';
import { silentLogger, type Run } from '../../../protocol/index.js';
import { waitFor } from '../../helpers/procs.js';

/** What a secret-bearing agent environment looks like: its token, LAAS_* settings, others' secrets. */
const SECRETS = {
  AGENT_TOKEN_SOURCE: 'agent-token-value-must-not-leak',
  LAAS_AGENT_TOKEN: 'laas-token-must-not-leak',
  LAAS_STORE_URL: 'postgres://laas:password@db/laas',
  AWS_SECRET_ACCESS_KEY: 'cloud-secret-must-not-leak',
};
const PASSED = { HTTP_PROXY: 'http://proxy.example:3128', LC_ALL: 'C.UTF-8', TZ: 'UTC' };

const saved: Record<string, string | undefined> = {};
beforeEach(() => {
  for (const [k, v] of Object.entries({ ...SECRETS, ...PASSED })) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
});
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

const dir = mkdtempSync(join(tmpdir(), 'laas-child-env-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = () =>
  parseAgentConfig(
    {
      controller: 'ws://127.0.0.1:7070',
      token: { env: 'AGENT_TOKEN_SOURCE' },
      passEnv: ['HTTP_PROXY'],
      services: [{ name: 'svc', probe: { tcp: '127.0.0.1:1' }, restart: ['env'] }],
      scripts: { dump: ['env'] },
    },
    'agent.json',
  );

/** The environment a command saw, from `env`'s output. */
const parse = (stdout: string) =>
  Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );

function expectClean(env: Record<string, string>): void {
  for (const name of Object.keys(SECRETS)) expect(env[name], name).toBeUndefined();
  expect(Object.values(env).join('\n')).not.toMatch(/must-not-leak|password/);
  expect(env.PATH).toBe(process.env.PATH);
}

describe('the environment of what the agent starts', () => {
  const run = (action: string, params: Record<string, unknown>): Run => ({
    id: 'e1',
    host: 'h',
    action,
    params,
    timeoutMs: 10_000,
    deadline: Date.now() + 60_000,
  });

  it("a script sees the allow-listed variables and what passEnv names, never the agent's secrets", async () => {
    const r = await runInstruction(run('script.run', { name: 'dump' }), { config: config(), log: silentLogger });
    expect(r.outcome).toBe('succeeded');
    const env = parse(r.stdout);
    expectClean(env);
    expect(env).toMatchObject(PASSED);
  });

  it('a restart command sees the same', async () => {
    const r = await runInstruction(run('service.restart', { service: 'svc' }), { config: config(), log: silentLogger });
    const env = parse(r.stdout);
    expectClean(env);
    expect(env.HTTP_PROXY).toBe(PASSED.HTTP_PROXY);
  });

  it("the systemd probe's systemctl sees the same", async () => {
    // A stand-in systemctl first on PATH, writing down the environment it was given.
    const bin = join(dir, 'bin');
    const out = join(dir, 'systemctl-env');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\nenv > ${JSON.stringify(out)}\necho active\n`);
    chmodSync(join(bin, 'systemctl'), 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const c = config();
      const watcher = new ServiceWatcher({
        services: [{ name: 'unit', probe: { kind: 'systemd', target: 'demo' }, probeIntervalMs: 60_000, probeTimeoutMs: 5000 }],
        env: childEnv(process.env, c),
        log: silentLogger,
        onChange: () => undefined,
      });
      watcher.start();
      await waitFor(
        'the probe to run',
        () => {
          try {
            return readFileSync(out, 'utf8').includes('PATH=');
          } catch {
            return false;
          }
        },
        10_000,
      );
      watcher.stop();
      const env = parse(readFileSync(out, 'utf8'));
      for (const name of Object.keys(SECRETS)) expect(env[name], name).toBeUndefined();
      expect(env.HTTP_PROXY).toBe(PASSED.HTTP_PROXY);
      // Called directly (as a test or another caller might), the probe still passes only the allow-list.
      expect(await PROBES.systemd('demo', 5000)).toEqual({ up: true });
      expect(parse(readFileSync(out, 'utf8')).AWS_SECRET_ACCESS_KEY).toBeUndefined();
    } finally {
      process.env.PATH = path;
    }
  });

  it('childEnv keeps LC_*, fills PATH when there is none, and drops a secret even if asked to pass it', () => {
    expect(childEnv({ LC_TIME: 'C', FOO: 'x' })).toEqual({ LC_TIME: 'C', PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' });
    expect(childEnv({ PATH: '/bin', TOKEN_VAR: 's', LAAS_X: 'y' }, { passEnv: ['TOKEN_VAR', 'LAAS_X'], secretEnv: ['TOKEN_VAR'] })).toEqual({ PATH: '/bin' });
  });
});
