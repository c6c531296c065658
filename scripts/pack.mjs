#!/usr/bin/env node
// npm run pack: the release. Builds two single-file bundles with esbuild and a tarball around them.
//
//   dist/bundle/laas-agent.mjs   the agent alone (cli/agent-main.ts): what every server runs
//   dist/bundle/laas.mjs         the whole `laas` CLI, controller included
//   dist/laas-<version>.tar.gz   laas-<version>/{install.sh, both bundles, rules/, dashboards/,
//                                packaging/systemd/, README.md, SECURITY.md, VERSION}
//
// Neither bundle needs node_modules at run time. The one package left out is systeminformation:
// the agent imports it lazily and only off Linux (on Linux it reads /proc and statfs), and the
// installer targets Linux. Each bundle is run from an empty folder before the tarball is made,
// so a bundle that would need node_modules fails the pack, not a server.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { common, forbiddenInputs } from './bundle-options.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const version = pkg.version;
const codeVersion = /LAAS_VERSION = '([^']+)'/.exec(readFileSync(join(root, 'protocol/version.ts'), 'utf8'))?.[1];
if (codeVersion !== version) fail(`package.json says ${version} but protocol/version.ts says ${codeVersion}: make them agree`);

const outDir = join(root, 'dist/bundle');
const step = (what) => process.stdout.write(`pack: ${what}\n`);
function fail(message) {
  process.stderr.write(`pack: ${message}\n`);
  process.exit(1);
}

/**
 * Escapes what esbuild leaves non-ASCII (a regular expression literal in a dependency) as
 * \uXXXX, which means the same in strings, templates, regex literals and identifiers, so V8
 * stores the source as one-byte text.
 */
function asciiOnly(file) {
  const text = readFileSync(file, 'utf8');
  // eslint-disable-next-line no-control-regex
  const escaped = text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (escaped !== text) writeFileSync(file, escaped);
}

const bundles = [
  // The agent validates with valibot only: zod's classic schemas cost ~2.5 MiB of RSS (issue #9).
  { entry: 'cli/agent-main.ts', out: 'laas-agent.mjs', forbid: ['zod'] },
  { entry: 'cli/main.ts', out: 'laas.mjs', forbid: [] },
];

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
for (const b of bundles) {
  const outfile = join(outDir, b.out);
  const result = await build({ ...common, entryPoints: [join(root, b.entry)], outfile });
  asciiOnly(outfile);
  chmodSync(outfile, 0o755);
  const inputs = Object.keys(result.metafile.inputs);
  const forbidden = forbiddenInputs(result.metafile, b.forbid);
  if (forbidden.length > 0)
    fail(
      `${b.out} must not contain ${b.forbid.join(', ')}, but bundles ${forbidden.length} of its modules, e.g. ${forbidden[0]}: ` +
        'find which agent or protocol module imports it (esbuild --metafile, "imports")',
    );
  step(`${relative(root, outfile)} ${(statSync(outfile).size / 1024).toFixed(0)} KiB from ${inputs.length} modules`);
}

// Smoke: each bundle from a folder with no node_modules anywhere above it.
const scratch = mkdtempSync(join(tmpdir(), 'laas-pack-'));
try {
  for (const b of bundles) cpSync(join(outDir, b.out), join(scratch, b.out));
  const config = join(scratch, 'agent.json');
  writeFileSync(
    config,
    JSON.stringify({
      controller: 'ws://127.0.0.1:7070',
      token: 'pack-smoke-token-0123456789',
      id: 'pack-smoke',
      services: [{ name: 'p', probe: { process: 'node' } }],
      metrics: { listen: '127.0.0.1:9101' },
    }),
  );
  // The agent runs with the unit's Node flags (e.g. --jitless: no WebAssembly), so check it with them.
  const unit = readFileSync(join(root, 'packaging/systemd/laas-agent.service'), 'utf8');
  const flags = /^ExecStart=@NODE@\s+(.*?)\s*\/opt\/laas\/laas-agent\.mjs\b/m.exec(unit)?.[1].split(/\s+/).filter(Boolean);
  if (!flags) fail('packaging/systemd/laas-agent.service: no "ExecStart=@NODE@ [flags] /opt/laas/laas-agent.mjs" line');
  const runs = [
    ['laas-agent.mjs', '--version'],
    ['laas-agent.mjs', '--config', config, '--check'],
    [...flags, 'laas-agent.mjs', '--config', config, '--check'],
    ['laas.mjs', '--version'],
    ['laas.mjs', 'rules', 'validate', join(root, 'rules')],
  ];
  for (const run of runs) {
    const at = run.findIndex((a) => a.endsWith('.mjs'));
    const [nodeFlags, file, args] = [run.slice(0, at), run[at], run.slice(at + 1)];
    const r = spawnSync(process.execPath, [...nodeFlags, join(scratch, file), ...args], {
      cwd: scratch,
      encoding: 'utf8',
      env: { ...process.env, NODE_PATH: '' },
    });
    if (r.status !== 0) fail(`${[...nodeFlags, file, ...args].join(' ')} failed outside the checkout (exit ${r.status}):\n${r.stderr}${r.stdout}`);
  }
  step('both bundles start from a folder without node_modules');
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

// The release tarball.
const name = `laas-${version}`;
const stage = mkdtempSync(join(tmpdir(), 'laas-release-'));
try {
  const top = join(stage, name);
  mkdirSync(top);
  for (const b of bundles) cpSync(join(outDir, b.out), join(top, b.out));
  for (const f of ['install.sh', 'README.md', 'SECURITY.md']) {
    if (!existsSync(join(root, f))) fail(`${f} is missing`);
    cpSync(join(root, f), join(top, f));
  }
  chmodSync(join(top, 'install.sh'), 0o755);
  for (const d of ['rules', 'dashboards', 'packaging/systemd']) cpSync(join(root, d), join(top, d), { recursive: true });
  writeFileSync(join(top, 'VERSION'), `${version}\n`);
  const tarball = join(root, 'dist', `${name}.tar.gz`);
  const tar = spawnSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mode=u+rwX,go+rX,go-w', '-czf', tarball, '-C', stage, name], {
    encoding: 'utf8',
  });
  if (tar.status !== 0) fail(`tar failed: ${tar.stderr}`);
  step(`${relative(root, tarball)} ${(statSync(tarball).size / 1024).toFixed(0)} KiB`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
