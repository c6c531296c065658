/**
 * install.sh, for real: `npm run pack` builds the bundles and the release tarball; install.sh
 * installs from it into a temporary root (--prefix), and the test checks every file, mode and
 * owner it wrote. The installed agent bundle then runs from that root, with no node_modules in
 * reach, against a real TLS controller: it enrolls with a token made through the API and
 * connects. Re-running keeps the config; --uninstall keeps config and data; --purge leaves
 * nothing. A controller install creates a real system user (removed again by --purge, or by
 * afterAll if a test failed before it), and the installed controller starts as that user.
 *
 * systemctl is never called (--prefix); the unit files are checked with systemd-analyze verify
 * where it exists. Prints the agent bundle's size, its cold start to "connected" and its RSS.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../helpers/fleet.js';
import { freePort, laasRun, logLines, onPath, stopAll, waitFor } from '../helpers/procs.js';

const REPO = resolve('.');
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const IS_ROOT = process.getuid?.() === 0;
/** A throwaway system user for the controller install (as root); removed by --purge or afterAll. */
const TEST_USER = `laast${process.pid % 100_000}`;

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const uidOf = (user: string) => Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout.trim());
const userExists = (user: string) => spawnSync('getent', ['passwd', user]).status === 0;

interface Run {
  code: number | null;
  out: string;
  err: string;
}
function sh(args: string[], opts: { cwd?: string; input?: string } = {}): Run {
  const r = spawnSync('bash', args, {
    cwd: opts.cwd ?? REPO,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, TMPDIR: tmpdir() },
    input: opts.input ?? '',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const ok = (r: Run) => {
  if (r.code !== 0) throw new Error(`exit ${r.code}\n--- stdout\n${r.out}\n--- stderr\n${r.err}`);
  return r;
};

/** Every entry under a root: relative path → "type mode uid:gid" (and the target of a link). */
function tree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = lstatSync(path);
      const rel = '/' + relative(root, path);
      const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
      if (st.isSymbolicLink()) out.set(rel, `link ${st.uid}:${st.gid} -> ${readlinkSync(path)}`);
      else if (st.isDirectory()) {
        out.set(rel, `dir ${mode} ${st.uid}:${st.gid}`);
        walk(path);
      } else out.set(rel, `file ${mode} ${st.uid}:${st.gid}`);
    }
  };
  walk(root);
  return out;
}

/** What install.sh must have written for the program (same for both roles), from the release folder. */
function programTree(release: string, owner: string): Map<string, string> {
  const want = new Map<string, string>([
    ['/opt', `dir 0755 ${owner}`],
    ['/opt/laas', `dir 0755 ${owner}`],
    ['/usr', `dir 0755 ${owner}`],
    ['/usr/local', `dir 0755 ${owner}`],
    ['/usr/local/bin', `dir 0755 ${owner}`],
    ['/usr/local/bin/laas', `link ${owner} -> /opt/laas/laas.mjs`],
    ['/etc', `dir 0755 ${owner}`],
    ['/etc/systemd', `dir 0755 ${owner}`],
    ['/etc/systemd/system', `dir 0755 ${owner}`],
  ]);
  for (const f of ['laas-agent.mjs', 'laas.mjs', 'install.sh']) want.set(`/opt/laas/${f}`, `file 0755 ${owner}`);
  for (const f of ['README.md', 'SECURITY.md', 'VERSION']) want.set(`/opt/laas/${f}`, `file 0644 ${owner}`);
  for (const d of ['rules', 'dashboards', 'packaging']) {
    const base = join(release, d);
    want.set(`/opt/laas/${d}`, `dir 0755 ${owner}`);
    for (const [rel, kind] of tree(base)) want.set(`/opt/laas/${d}${rel}`, kind.startsWith('dir') ? `dir 0755 ${owner}` : `file 0644 ${owner}`);
  }
  return want;
}

function expectTree(actual: Map<string, string>, want: Map<string, string>): void {
  const diff: string[] = [];
  for (const [p, k] of want) if (actual.get(p) !== k) diff.push(`${p}: want "${k}", got "${actual.get(p) ?? 'nothing'}"`);
  for (const [p, k] of actual) if (!want.has(p)) diff.push(`${p}: not expected ("${k}")`);
  expect(diff, diff.join('\n')).toEqual([]);
}

describe('install.sh', () => {
  const fleet = new Fleet();
  const work = mkdtempSync(join(tmpdir(), 'laas-install-'));
  const prefix = join(work, 'root');
  const release = join(work, 'release', `laas-${VERSION}`);
  const tarball = join(REPO, 'dist', `laas-${VERSION}.tar.gz`);
  const empty = join(work, 'empty'); // cwd for the bundles: no node_modules anywhere above
  const me = `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;
  const owner = IS_ROOT ? '0:0' : me;
  let ca = '';
  let token = '';
  /** The enrollment token in a file: what install.sh is given, so it never shows in ps. */
  const tokenFile = join(work, 'enroll-token');
  const numbers: Record<string, string> = {};
  const procs: ReturnType<typeof spawn>[] = [];

  beforeAll(async () => {
    chmodSync(work, 0o755); // the controller's own user must reach the prefix inside it
    const pack = spawnSync(process.execPath, ['scripts/pack.mjs'], { cwd: REPO, encoding: 'utf8' });
    if (pack.status !== 0) throw new Error(`npm run pack failed:\n${pack.stdout}${pack.stderr}`);
    mkdirSync(join(work, 'release'));
    mkdirSync(empty);
    const tar = spawnSync('tar', ['-xzf', tarball, '-C', join(work, 'release')], { encoding: 'utf8' });
    if (tar.status !== 0) throw new Error(`tar: ${tar.stderr}`);
    const certs = await laasRun(['certs', 'init', '--dir', join(fleet.dir, 'certs'), '--hosts', 'localhost,127.0.0.1']);
    if (certs.code !== 0) throw new Error(certs.stderr);
    ca = join(fleet.dir, 'certs/ca.pem');
    // No apiTokens: the test controller's API is open, as on a loopback-only controller.
    await fleet.startController(
      { agentTokens: [], tls: { cert: join(fleet.dir, 'certs/controller.pem'), key: join(fleet.dir, 'certs/controller-key.pem') } },
      { https: true, ca: readFileSync(ca, 'utf8') },
    );
    const r = await fleet.fetch('/api/v1/enroll-tokens', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ uses: 1, ttl: '10m' }),
    });
    expect(r.status).toBe(201);
    token = ((await r.json()) as { token: string }).token;
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  }, 60_000);

  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    await stopAll();
    await fleet.cleanup();
    // A test that failed before --purge must not leave its system user behind.
    if (IS_ROOT && userExists(TEST_USER)) spawnSync('userdel', [TEST_USER]);
    if (IS_ROOT && spawnSync('getent', ['group', TEST_USER]).status === 0) spawnSync('groupdel', [TEST_USER]);
    rmSync(work, { recursive: true, force: true });
    if (Object.keys(numbers).length)
      console.log(
        `agent bundle: ${Object.entries(numbers)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      );
  });

  const install = (args: string[], from = release) => ok(sh([join(from, 'install.sh'), ...args, '--prefix', prefix, '--node', process.execPath]));
  const agentArgs = () => [
    'agent',
    '--controller',
    `wss://localhost:${fleet.port}`,
    '--enroll-token-file',
    tokenFile,
    '--ca',
    ca,
    '--labels',
    'role=web,env=prod',
    '--id',
    'installed-1',
  ];

  /** Starts the installed agent bundle from the prefix; resolves when it says it is connected. */
  async function startInstalledAgent(): Promise<{ child: ReturnType<typeof spawn>; log: () => string; startMs: number }> {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [join(prefix, 'opt/laas/laas-agent.mjs'), '--config', join(prefix, 'etc/laas/agent.json')], {
      cwd: empty,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LAAS_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    procs.push(child);
    let log = '';
    let connectedAt = 0n;
    child.stderr.on('data', (d: Buffer) => {
      log += d.toString();
      if (!connectedAt && log.includes('"connected to controller"')) connectedAt = process.hrtime.bigint();
    });
    await waitFor(
      'the installed agent to connect',
      () => {
        if (child.exitCode !== null) throw new Error(`agent exited ${child.exitCode}: ${log}`);
        return connectedAt > 0n;
      },
      15_000,
      10,
    );
    return { child, log: () => log, startMs: Number(connectedAt - started) / 1e6 };
  }

  const stop = async (child: ReturnType<typeof spawn>) => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };

  it('passes shellcheck', (ctx) => {
    if (!onPath('shellcheck')) {
      if (process.env.CI) throw new Error('shellcheck is not installed: .ci/run installs it (apt-get install shellcheck)');
      console.log('skipped shellcheck: not installed here (apt-get install shellcheck)');
      ctx.skip();
    }
    const r = spawnSync('shellcheck', ['install.sh'], { cwd: REPO, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('refuses bad flags with what to do, before changing anything', () => {
    const noController = sh(['install.sh', 'agent', '--enroll-token', 'x', '--prefix', prefix]);
    expect(noController.code).toBe(2);
    expect(noController.err).toContain('agent needs --controller wss://HOST:PORT');
    const badLabels = sh(['install.sh', 'agent', '--controller', 'wss://c:1', '--enroll-token', 'x', '--labels', 'role', '--prefix', prefix]);
    expect(badLabels.code).toBe(2);
    expect(badLabels.err).toContain('"role" is not KEY=VALUE');
    const badUrl = sh(['install.sh', 'agent', '--controller', 'https://c:1', '--enroll-token', 'x', '--prefix', prefix]);
    expect(badUrl.err).toContain('is not a ws:// or wss:// URL');
    // No Node.js 20: it says so and what to do (the distribution's package, or where to get one).
    const noNode = sh(['install.sh', 'agent', '--controller', 'wss://c:1', '--enroll-token', 'x', '--node', '/bin/true', '--prefix', prefix]);
    expect(noNode.code).toBe(1);
    expect(noNode.out).toContain('--node /bin/true is not Node.js 20 or newer');
    expect(noNode.err).toMatch(/Node\.js 20 or newer is needed[\s\S]*what to do: (install it with: .*nodejs|install Node\.js 20 or 22 from)/);
    expect(existsSync(prefix)).toBe(false);
  });

  it('--dry-run prints every step and changes nothing', () => {
    const r = install([...agentArgs(), '--dry-run']);
    for (const s of [
      'Checking this system',
      'Checking Node.js',
      'Finding the release',
      `Installing laas ${VERSION} into /opt/laas`,
      'Linking the laas command',
      'Writing the agent config',
      'Installing the systemd unit laas-agent.service',
      'Enabling and starting laas-agent',
    ]) {
      expect(r.out).toContain(s);
    }
    expect(r.out).toContain('would write /etc/laas/agent.json (0600');
    expect(r.out).toContain('would write /etc/systemd/system/laas-agent.service (0644');
    expect(r.out).toContain('Dry run: nothing was changed');
    expect(r.out).not.toContain(token); // secrets are not echoed
    expect(existsSync(prefix)).toBe(false);
  });

  it('installs the agent from the release tarball: every file, mode and owner it wrote', () => {
    const r = install(agentArgs());
    expect(r.out).toMatch(/==> \[\d+\] Writing the agent config \/etc\/laas\/agent.json/);
    expect(r.out).toContain('systemctl will not be called: installing under --prefix');
    expect(r.out).toContain('systemctl status laas-agent');
    expect(r.out).toContain('laas status');

    const want = programTree(release, owner);
    want.set('/etc/laas', `dir 0750 ${owner}`);
    want.set('/etc/laas/agent.json', `file 0600 ${owner}`);
    want.set('/etc/laas/ca.pem', `file 0644 ${owner}`);
    want.set('/etc/systemd/system/laas-agent.service', `file 0644 ${owner}`);
    expectTree(tree(prefix), want);

    // The bundles are the release's, byte for byte; the config is the flags'.
    expect(sha(join(prefix, 'opt/laas/laas-agent.mjs'))).toBe(sha(join(REPO, 'dist/bundle/laas-agent.mjs')));
    expect(readFileSync(join(prefix, 'opt/laas/VERSION'), 'utf8').trim()).toBe(VERSION);
    expect(JSON.parse(readFileSync(join(prefix, 'etc/laas/agent.json'), 'utf8'))).toEqual({
      controller: `wss://localhost:${fleet.port}`,
      enrollToken: token,
      ca: 'ca.pem',
      id: 'installed-1',
      labels: { role: 'web', env: 'prod' },
      interval: '10s',
      services: [],
      scripts: {},
      cleanupRoots: [],
    });
    expect(readFileSync(join(prefix, 'etc/laas/ca.pem'), 'utf8')).toBe(readFileSync(ca, 'utf8'));
    const unit = readFileSync(join(prefix, 'etc/systemd/system/laas-agent.service'), 'utf8');
    expect(unit).toContain(
      `ExecStart=${process.execPath} --max-semi-space-size=1 --optimize-for-size --no-opt --jitless --bytecode-old-age=1 --single-threaded /opt/laas/laas-agent.mjs --config /etc/laas/agent.json`,
    );
    expect(unit).toContain('Environment=MALLOC_ARENA_MAX=1 MALLOC_TRIM_THRESHOLD_=65536 MALLOC_TOP_PAD_=0');
    expect(unit).toMatch(/^Restart=always$/m);
    expect(unit).toMatch(/^ProtectSystem=full$/m);
    expect(unit).toMatch(/^ReadWritePaths=\/etc\/laas$/m);
    expect(unit).not.toMatch(/^User=/m);
    expect(unit).not.toContain('@');
  });

  it('the installed agent bundle, run from the prefix with no node_modules, enrolls and connects', async () => {
    const agent = await startInstalledAgent();
    expect(agent.log()).toContain('enrolled; credential saved');
    const st = statSync(join(prefix, 'etc/laas/credential.json'));
    expect((st.mode & 0o777).toString(8)).toBe('600');
    const agents = await fleet.api<{ id: string; connected: boolean }[]>('/api/v1/agents');
    expect(agents.find((a) => a.id === 'installed-1')?.connected).toBe(true);
    const hosts = await waitFor('the host with its labels', async () =>
      (await fleet.api<{ id: string; labels: Record<string, string> }[]>('/api/v1/hosts')).find((h) => h.id === 'installed-1'),
    );
    expect(hosts.labels).toEqual({ role: 'web', env: 'prod' });

    // laas status from the installed CLI bundle: enrolled, controller healthy.
    const status = spawnSync(process.execPath, [join(prefix, 'opt/laas/laas.mjs'), 'status', '--config', join(prefix, 'etc/laas/agent.json')], {
      cwd: empty,
      encoding: 'utf8',
    });
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/agent id\s+installed-1/);
    expect(status.stdout).toMatch(/enrolled\s+yes/);
    expect(status.stdout).toMatch(/health\s+ok — laas/);

    await new Promise((r) => setTimeout(r, 1000)); // settle after the first sample
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${agent.child.pid}/status`, 'utf8'))?.[1]);
    numbers.size = `${(statSync(join(prefix, 'opt/laas/laas-agent.mjs')).size / 1024).toFixed(0)} KiB`;
    numbers['cold start to connected'] = `${agent.startMs.toFixed(0)} ms (enrolling included)`;
    numbers.RSS = `${(rssKb / 1024).toFixed(1)} MiB`;
    await stop(agent.child);
  });

  it('takes a shared token from standard input or a file, pins the signing key given, and warns about tokens on the command line', () => {
    const root = join(work, 'shared-root');
    const keyFile = join(work, 'signing-key.pem');
    writeFileSync(keyFile, fleet.signingKey!);
    const shared = 'shared-agent-token-from-stdin-0123456789';
    const base = [
      join(release, 'install.sh'),
      'agent',
      '--controller',
      `wss://localhost:${fleet.port}`,
      '--ca',
      ca,
      '--id',
      'shared-1',
      '--prefix',
      root,
      '--node',
      process.execPath,
    ];
    const r = ok(sh([...base, '--token-file', '-', '--signing-key', keyFile], { input: `${shared}\n` }));
    expect(r.out + r.err).not.toContain(shared);
    expect(r.err).not.toContain('warning');
    expect(JSON.parse(readFileSync(join(root, 'etc/laas/agent.json'), 'utf8'))).toEqual({
      controller: `wss://localhost:${fleet.port}`,
      token: shared,
      ca: 'ca.pem',
      signingKey: fleet.signingKey,
      id: 'shared-1',
      labels: {},
      interval: '10s',
      services: [],
      scripts: {},
      cleanupRoots: [],
    });
    // From a file, the same; on the command line it still works, with a warning.
    const file = join(work, 'shared-token');
    writeFileSync(file, `  ${shared}  \n`, { mode: 0o600 });
    ok(sh([...base, '--reconfigure', '--token-file', file, '--signing-key', keyFile]));
    expect((JSON.parse(readFileSync(join(root, 'etc/laas/agent.json'), 'utf8')) as { token: string }).token).toBe(shared);
    const argv = ok(sh([...base, '--reconfigure', '--token', shared, '--signing-key', keyFile, '--dry-run']));
    expect(argv.err).toContain('--token puts the token on the command line, where ps and shell history show it; next time use --token-file FILE');
    // A shared token without the key: installed, with a warning that heals will be refused.
    const bare = ok(sh([...base, '--reconfigure', '--token-file', file, '--dry-run']));
    expect(bare.err).toContain('a shared token without --signing-key: the agent will monitor and report, but refuse every instruction');
    // Mistakes stop before anything changes, with what is wrong.
    const missing = sh([...base, '--reconfigure', '--token-file', join(work, 'nope')]);
    expect([missing.code, missing.err]).toEqual([2, expect.stringContaining(`--token-file ${join(work, 'nope')} cannot be read`)]);
    const empty = sh([...base, '--reconfigure', '--token-file', '-'], { input: '\n' });
    expect([empty.code, empty.err]).toEqual([2, expect.stringContaining('--token-file -: no token in it')]);
    const notKey = sh([...base, '--reconfigure', '--token-file', file, '--signing-key', ca]);
    expect([notKey.code, notKey.err]).toEqual([2, expect.stringContaining('is not a PEM public key')]);
    const both = sh([...base, '--reconfigure', '--token-file', file, '--token', shared]);
    expect([both.code, both.err]).toEqual([2, expect.stringContaining('give --token or --token-file, not both')]);
    rmSync(root, { recursive: true, force: true });
  });

  it('laas status exits non-zero when the controller is unreachable', async () => {
    const dead = join(work, 'dead.json');
    writeFileSync(dead, JSON.stringify({ controller: `ws://127.0.0.1:${await freePort()}`, token: 'a-token-that-is-long-enough', id: 'x' }));
    const r = spawnSync(process.execPath, [join(prefix, 'opt/laas/laas.mjs'), 'status', '--config', dead, '--json'], { cwd: empty, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'agent', agentId: 'x', enrolled: false, health: { reachable: false } });
    const missing = spawnSync(process.execPath, [join(prefix, 'opt/laas/laas.mjs'), 'status', '--config', join(work, 'nope.json')], {
      cwd: empty,
      encoding: 'utf8',
    });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('is laas installed here?');
  });

  it('re-running upgrades in place and keeps the config and the credential', async () => {
    // An older install with an edited config.
    writeFileSync(join(prefix, 'opt/laas/VERSION'), '0.0.9\n');
    writeFileSync(join(prefix, 'opt/laas/stale-file-from-0.0.9'), 'x');
    const config = join(prefix, 'etc/laas/agent.json');
    const edited = { ...(JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>), interval: '2s' };
    writeFileSync(config, JSON.stringify(edited, null, 2) + '\n');
    const before = readFileSync(config, 'utf8');
    const credential = readFileSync(join(prefix, 'etc/laas/credential.json'), 'utf8');

    // From the checkout this time (dist/bundle), with flags that must not overwrite the config.
    const r = install(['agent', '--controller', 'wss://elsewhere:1', '--enroll-token', 'another-token-0123456789'], REPO);
    expect(r.out).toContain(`upgrading laas 0.0.9 to ${VERSION} in place`);
    expect(r.out).toContain('kept the existing /etc/laas/agent.json');
    expect(r.out).toContain('add --reconfigure');
    expect(readFileSync(config, 'utf8')).toBe(before);
    expect(readFileSync(join(prefix, 'etc/laas/credential.json'), 'utf8')).toBe(credential);
    expect(readFileSync(join(prefix, 'opt/laas/VERSION'), 'utf8').trim()).toBe(VERSION);
    expect(existsSync(join(prefix, 'opt/laas/stale-file-from-0.0.9'))).toBe(false);
    expect(readdirSync(join(prefix, 'opt')).sort()).toEqual(['laas']); // no staging left over

    // Same files, modes and owners as a first install (plus the credential).
    const want = programTree(release, owner);
    for (const [p, k] of [
      ['/etc/laas', 'dir 0750'],
      ['/etc/laas/agent.json', 'file 0600'],
      ['/etc/laas/credential.json', 'file 0600'],
      ['/etc/laas/ca.pem', 'file 0644'],
      ['/etc/systemd/system/laas-agent.service', 'file 0644'],
    ])
      want.set(p, `${k} ${owner}`);
    expectTree(tree(prefix), want);

    // The kept credential still works: the agent connects without enrolling again.
    const agent = await startInstalledAgent();
    expect(agent.log()).not.toContain('enrolling');
    numbers['start to connected when enrolled'] = `${agent.startMs.toFixed(0)} ms`;
    await stop(agent.child);
  });

  it('installs a controller beside it: its user, TLS, owners; it starts as that user and answers', async (ctx) => {
    if (!IS_ROOT) {
      console.log('skipped the controller install: creating its system user needs root (CI runs as root)');
      ctx.skip();
    }
    const port = await freePort();
    const r = install(['controller', '--listen', `0.0.0.0:${port}`, '--user', TEST_USER]);
    expect(r.out).toContain(`create the system user ${TEST_USER}`);
    expect(r.out).toContain('laas agents enroll-token');
    const u = `${uidOf(TEST_USER)}`;
    const g = spawnSync('getent', ['group', TEST_USER], { encoding: 'utf8' }).stdout.split(':')[2];
    const uid = `${u}:${g}`;
    expect(spawnSync('getent', ['passwd', TEST_USER], { encoding: 'utf8' }).stdout).toMatch(/:\/var\/lib\/laas:\/(usr\/)?sbin\/nologin$/m);

    const want = programTree(release, '0:0');
    const rules = tree(join(release, 'rules'));
    for (const [p, k] of [
      ['/etc/laas', `dir 0750 0:${g}`],
      ['/etc/laas/agent.json', 'file 0600 0:0'],
      ['/etc/laas/credential.json', 'file 0600 0:0'],
      ['/etc/laas/ca.pem', 'file 0644 0:0'],
      ['/etc/laas/.install-state', 'file 0600 0:0'],
      ['/etc/laas/controller.json', `file 0640 0:${g}`],
      ['/etc/laas/api-token', `file 0640 0:${g}`],
      ['/etc/laas/tls', `dir 0750 0:${g}`],
      ['/etc/laas/tls/ca.pem', 'file 0644 0:0'],
      ['/etc/laas/tls/controller.pem', 'file 0644 0:0'],
      ['/etc/laas/tls/controller-key.pem', `file 0640 0:${g}`],
      ['/etc/laas/tls/ca-key.pem', 'file 0600 0:0'],
      ['/etc/laas/rules', 'dir 0755 0:0'],
      ['/var', 'dir 0755 0:0'],
      ['/var/lib', 'dir 0755 0:0'],
      ['/var/lib/laas', `dir 0750 ${uid}`],
      ['/etc/systemd/system/laas-agent.service', 'file 0644 0:0'],
      ['/etc/systemd/system/laas-controller.service', 'file 0644 0:0'],
    ])
      want.set(p, k);
    for (const [rel, k] of rules) want.set(`/etc/laas/rules${rel}`, k.startsWith('dir') ? 'dir 0755 0:0' : 'file 0644 0:0');
    expectTree(tree(prefix), want);
    const unit = readFileSync(join(prefix, 'etc/systemd/system/laas-controller.service'), 'utf8');
    expect(unit).toMatch(new RegExp(`^User=${TEST_USER}$`, 'm'));
    expect(unit).toMatch(/^StateDirectory=laas$/m);
    expect(unit).toMatch(/^NoNewPrivileges=yes$/m);

    // Started from the prefix as its user (as systemd would): it reads its config, writes its data.
    const child = spawn(
      'runuser',
      ['-u', TEST_USER, '--', process.execPath, join(prefix, 'opt/laas/laas.mjs'), 'controller', '--config', join(prefix, 'etc/laas/controller.json')],
      { cwd: empty, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    procs.push(child);
    let log = '';
    child.stderr.on('data', (d: Buffer) => {
      log += d.toString();
    });
    try {
      await waitFor(
        'the installed controller to answer laas status',
        () => {
          if (child.exitCode !== null) throw new Error(`controller exited ${child.exitCode}: ${log}`);
          return (
            spawnSync(process.execPath, [join(prefix, 'opt/laas/laas.mjs'), 'status', '--config', join(prefix, 'etc/laas/controller.json')], { cwd: empty })
              .status === 0
          );
        },
        15_000,
        200,
      );
      await waitFor('its "controller started" log line, with TLS', () => logLines(log).some((l) => l.msg === 'controller started' && l.tls === true), 5000);
      // The API is not open: it wants the admin token install.sh wrote.
      const apiToken = readFileSync(join(prefix, 'etc/laas/api-token'), 'utf8').trim();
      const anon = await laasRun(['agents', '--url', `https://127.0.0.1:${port}`], { NODE_EXTRA_CA_CERTS: join(prefix, 'etc/laas/tls/ca.pem') });
      expect(anon.code).toBe(1);
      const admin = spawnSync(process.execPath, [join(prefix, 'opt/laas/laas.mjs'), 'agents', 'enroll-token', '--url', `https://localhost:${port}`], {
        cwd: empty,
        encoding: 'utf8',
        env: { ...process.env, LAAS_TOKEN: apiToken, NODE_EXTRA_CA_CERTS: join(prefix, 'etc/laas/tls/ca.pem') },
      });
      expect(admin.status, admin.stderr).toBe(0);
      expect(admin.stdout).toMatch(/^laas-enroll-/);
      expect(statSync(join(prefix, 'var/lib/laas/signing-key.pem')).uid).toBe(Number(u));
    } finally {
      const exited = new Promise((res) => child.once('exit', res));
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    }
  });

  it('the unit files pass systemd-analyze verify', (ctx) => {
    if (!onPath('systemd-analyze')) {
      console.log('skipped systemd-analyze verify: systemd-analyze is not installed here (no systemd in this container)');
      ctx.skip();
    }
    const units = ['laas-agent.service', 'laas-controller.service'].map((u) => join(prefix, 'etc/systemd/system', u)).filter((f) => existsSync(f));
    expect(units.length).toBeGreaterThan(0);
    for (const unit of units) {
      const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
      // Unknown keys and bad values are only warnings to verify: none may appear.
      expect(`${r.stdout}${r.stderr}`.trim(), unit).toBe('');
      expect(r.status, unit).toBe(0);
    }
  });

  it('--uninstall removes what it installed and keeps config and data; --purge leaves nothing', () => {
    const hadController = existsSync(join(prefix, 'etc/systemd/system/laas-controller.service'));
    // The agent alone first: the program stays while the controller uses it.
    const agentOnly = ok(sh([join(prefix, 'opt/laas/install.sh'), 'agent', '--uninstall', '--prefix', prefix]));
    expect(existsSync(join(prefix, 'etc/systemd/system/laas-agent.service'))).toBe(false);
    if (hadController) {
      expect(agentOnly.out).toContain('another laas service still uses them');
      expect(existsSync(join(prefix, 'opt/laas/laas.mjs'))).toBe(true);
    }
    // Everything: program, units and link go; /etc/laas and /var/lib/laas stay.
    const all = ok(sh(['install.sh', '--uninstall', '--prefix', prefix]));
    expect(all.out).toContain('remove them with: install.sh --uninstall --purge');
    const left = [...tree(prefix).keys()].filter((p) => !p.startsWith('/etc/laas') && !p.startsWith('/var/lib/laas'));
    expect(left.sort()).toEqual(['/etc', ...(hadController ? ['/var', '/var/lib'] : [])].sort());
    expect(existsSync(join(prefix, 'etc/laas/agent.json'))).toBe(true);
    expect(existsSync(join(prefix, 'etc/laas/credential.json'))).toBe(true);
    if (hadController) {
      expect(existsSync(join(prefix, 'var/lib/laas/signing-key.pem'))).toBe(true);
      expect(userExists(TEST_USER)).toBe(true);
    }
    // Purge: nothing at all is left, not even the folders above ours, nor the user it created.
    const purge = ok(sh(['install.sh', '--uninstall', '--purge', '--prefix', prefix]));
    if (hadController) expect(purge.out).toContain(`remove the system user ${TEST_USER}`);
    expect(readdirSync(prefix)).toEqual([]);
    expect(userExists(TEST_USER)).toBe(false);
    expect(spawnSync('getent', ['group', TEST_USER]).status).not.toBe(0);
  });
});
