#!/usr/bin/env node
/**
 * The agent alone, as its own program: `laas-agent --config /etc/laas/agent.json`.
 *
 * This is the entry point of the single-file agent bundle (dist/bundle/laas-agent.mjs) that
 * install.sh puts in /opt/laas: it loads only the agent's modules — no commander, no controller —
 * so the file is small, starts fast and needs no node_modules on the host. `laas agent` in the
 * full CLI does the same thing.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { errorMessage, isLaasError } from '../protocol/errors.js';
import { createLogger } from '../protocol/log.js';
import { LAAS_VERSION } from '../protocol/version.js';
import { loadAgentConfig } from '../agent/config.js';
import { startAgent } from '../agent/main.js';

const USAGE = `usage: laas-agent --config FILE [--check]

  --config FILE   the agent's config (agent.json)
  --check         validate the config and exit: 0 when valid, else the errors and 1
  --version       print the version
  --help          this help
`;

async function main(argv: string[]): Promise<number> {
  let opts: { config?: string; check?: boolean; version?: boolean; help?: boolean };
  try {
    opts = parseArgs({
      args: argv,
      options: { config: { type: 'string' }, check: { type: 'boolean' }, version: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    process.stderr.write(`laas-agent: ${errorMessage(e)}\n${USAGE}`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (opts.version) {
    process.stdout.write(`${LAAS_VERSION}\n`);
    return 0;
  }
  if (!opts.config) {
    process.stderr.write(`laas-agent: --config is required\n${USAGE}`);
    return 2;
  }

  const config = loadAgentConfig(opts.config);
  if (opts.check) {
    // Valid, but worth saying: such an agent reports and refuses every instruction.
    const unpinned = !config.signingKey && !config.enrollToken && !existsSync(config.credentialFile);
    process.stdout.write(
      `ok: ${opts.config} is a valid agent config (id ${config.id}, controller ${config.controller})${
        unpinned
          ? '; note: it pins no controller signing key, so it will monitor but refuse every instruction (set "signingKey": laas signing-key prints it)'
          : ''
      }\n`,
    );
    return 0;
  }
  const log = createLogger('laas-agent');
  const agent = await startAgent(config, { log });
  // Stop once on SIGINT/SIGTERM (systemd stop, Ctrl-C); a second signal exits at once.
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (stopping) process.exit(1);
      stopping = true;
      agent.stop().then(
        () => process.exit(0),
        (e) => {
          process.stderr.write(`stop failed: ${errorMessage(e)}\n`);
          process.exit(1);
        },
      );
    });
  }
  return -1; // keep running
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (e: unknown) => {
    // Config and enrollment errors carry what to do; print them plainly for the journal.
    process.stderr.write(`laas-agent: ${isLaasError(e) ? `${e.code}: ${e.message}` : errorMessage(e)}\n`);
    process.exit(1);
  },
);
