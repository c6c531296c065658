#!/usr/bin/env node
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { errorMessage, isLaasError } from '../protocol/errors.js';
import { LAAS_VERSION } from '../protocol/version.js';
import type { BacktestCliOptions } from './backtest.js';
import { demoStart, demoStop } from './demo.js';
import { printable, printableDeep } from './terminal-safe.js';

// Each command loads only what it runs: the agent never loads the controller's modules
// (smaller RSS on every host), and `laas demo start` stays fast as a restart command.
const createLogger = async (name: string) => (await import('../protocol/log.js')).createLogger(name);
const agentParts = async () => ({ ...(await import('../agent/config.js')), ...(await import('../agent/main.js')) });
const controllerParts = async () => ({ ...(await import('../controller/config.js')), ...(await import('../controller/main.js')) });

const CLI_PATH = fileURLToPath(import.meta.url);

const port = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number');
  return n;
};

/** Stops the given parts on SIGINT/SIGTERM, once; a second signal exits at once. */
function onShutdown(stop: () => Promise<void>): void {
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (stopping) process.exit(1);
      stopping = true;
      stop().then(
        () => process.exit(0),
        (e) => {
          process.stderr.write(`stop failed: ${errorMessage(e)}\n`);
          process.exit(1);
        },
      );
    });
  }
}

const program = new Command('laas')
  .description('monitoring, alerting and self-healing for a fleet of servers')
  .version(LAAS_VERSION)
  .showHelpAfterError()
  // Each command owns the options after it: "laas breakers reset R H --url U" gives --url to reset.
  .enablePositionalOptions();

program
  .command('up')
  .description('all-in-one: a controller on the embedded store in ./data with the rules in ./rules, and a local agent watching a demo service')
  .option('--port <port>', 'controller port on 127.0.0.1', port, 7070)
  .option('--data <dir>', 'data directory', './data')
  .option('--rules <dir>', 'rules directory', './rules')
  .option('--demo-port <port>', 'port of the demo service the local agent watches', port, 18080)
  .option('--no-demo', 'do not start or watch the demo service')
  .action(async (o: { port: number; data: string; rules: string; demoPort: number; demo: boolean }) => {
    const log = await createLogger('laas');
    const { parseControllerConfig, startController } = await controllerParts();
    const { parseAgentConfig, startAgent } = await agentParts();
    const token = randomBytes(24).toString('base64url');
    const dataDir = resolve(o.data);
    const controller = await startController(
      parseControllerConfig(
        {
          // Named: a new random token each run is the same claimant of the local agent's id.
          listen: `127.0.0.1:${o.port}`,
          dataDir,
          rulesDir: resolve(o.rules),
          agentTokens: [{ name: 'laas-up', token }],
        },
        'laas up',
      ),
      { log: log.child({ part: 'controller' }) },
    );
    const pidfile = resolve(dataDir, 'demo.pid');
    const restart = [process.execPath, CLI_PATH, 'demo', 'start', '--port', String(o.demoPort), '--pidfile', pidfile];
    if (o.demo && (await demoStart(CLI_PATH, o.demoPort, pidfile)) !== 0) log.warn('demo service did not start; the agent will report it down');
    const agent = await startAgent(
      parseAgentConfig(
        {
          controller: `ws://127.0.0.1:${controller.port}`,
          token,
          signingKey: controller.signingKey,
          id: 'local',
          labels: { role: 'demo', env: 'local' },
          interval: '10s',
          stateDir: dataDir,
          services: o.demo ? [{ name: 'demo', probe: { tcp: `127.0.0.1:${o.demoPort}`, hold: true }, probeInterval: '1s', restart }] : [],
        },
        'laas up',
      ),
      { log: log.child({ part: 'agent' }) },
    );
    process.on('SIGHUP', () => void controller.reloadRules());
    process.stderr.write(
      [
        '',
        `laas is up: controller ${controller.url}, data in ${dataDir}, rules in ${resolve(o.rules)}`,
        `  hosts:   ${controller.url}/api/v1/hosts     alerts: ${controller.url}/api/v1/alerts`,
        `  heals:   ${controller.url}/api/v1/heals     metrics: ${controller.url}/metrics`,
        ...(o.demo ? [`  demo:    http://127.0.0.1:${o.demoPort}/ — kill it (laas demo stop --pidfile ${pidfile}) and watch it heal`] : []),
        '',
      ].join('\n') + '\n',
    );
    onShutdown(async () => {
      await agent.stop();
      await controller.stop();
    });
  });

program
  .command('controller')
  .description('run a controller')
  .requiredOption('--config <file>', 'controller.json')
  .action(async (o: { config: string }) => {
    const log = await createLogger('laas-controller');
    const { loadControllerConfig, startController } = await controllerParts();
    const controller = await startController(loadControllerConfig(o.config), { log, configFile: o.config });
    // As Prometheus and Alertmanager do: SIGHUP reloads the config file, and the rules.
    process.on('SIGHUP', () => {
      controller.reloadConfig();
      void controller.reloadRules();
    });
    onShutdown(() => controller.stop());
  });

program
  .command('agent')
  .description('run an agent')
  .requiredOption('--config <file>', 'agent.json')
  .action(async (o: { config: string }) => {
    const log = await createLogger('laas-agent');
    const { loadAgentConfig, startAgent } = await agentParts();
    const agent = await startAgent(loadAgentConfig(o.config), { log });
    onShutdown(() => agent.stop());
  });

const rules = program.command('rules').description('work with rule files');
rules
  .command('validate')
  .description('check rule files; exit 0 when all are valid, else print every error with file and JSON pointer and exit 1')
  .argument('[paths...]', 'rule files or folders', ['./rules'])
  .action(async (paths: string[]) => {
    const { formatRuleError, loadRules } = await import('../controller/rules/load.js');
    const { rules: loaded, errors, files } = loadRules(paths);
    if (errors.length) {
      for (const e of errors) process.stderr.write(`${formatRuleError(e)}\n`);
      process.stderr.write(`${errors.length} error${errors.length > 1 ? 's' : ''} in ${files} file${files === 1 ? '' : 's'}\n`);
      process.exitCode = 1;
      return;
    }
    process.stdout.write(`ok: ${loaded.length} rule${loaded.length === 1 ? '' : 's'} in ${files} file${files === 1 ? '' : 's'}\n`);
  });

rules
  .command('test')
  .description('run rule unit tests (*.test.json): a timeline of samples in, the expected alerts, work orders and notifications out')
  .argument('[files...]', 'test files, or folders to search for *.test.json', ['./rules'])
  .action(async (files: string[]) => {
    const { runRuleTest, findRuleTests } = await import('../controller/replay/rule-test.js');
    const tests = findRuleTests(files);
    if (tests.length === 0) {
      process.stderr.write(`no *.test.json files under ${files.join(', ')}\n`);
      process.exitCode = 1;
      return;
    }
    let failed = 0;
    for (const file of tests) {
      const out = await runRuleTest(file);
      if (out.ok) process.stdout.write(`ok    ${file} (${out.summary})\n`);
      else {
        failed++;
        process.stdout.write(`FAIL  ${file}\n${out.failures.map((f) => `    ${f}`).join('\n')}\n`);
      }
    }
    process.stdout.write(`${tests.length - failed} passed, ${failed} failed\n`);
    if (failed) process.exitCode = 1;
  });

rules
  .command('backtest')
  .description('replay history from Prometheus through rules: when each would have fired, for how long, and what each heal would have done')
  .argument('[paths...]', 'rule files or folders', ['./rules'])
  .requiredOption('--prometheus <url>', "Prometheus' base URL, e.g. http://127.0.0.1:9090")
  .option('--from <time>', '"-7d", an ISO date or Unix seconds', '-1d')
  .option('--to <time>', '"now", "-1h", an ISO date or Unix seconds', 'now')
  .option('--step <duration>', 'one sample per host every step', '1m')
  .option('--source <source>', '"laas" (the laas_host_* series laas exports) or "node" (node_exporter\'s)', 'laas')
  .option('--controller <url>', "take each host's labels from this controller (rules that select hosts by label need them)")
  .option('--json', 'print the report as JSON')
  .action(async (paths: string[], o: BacktestCliOptions) => {
    await (await import('./backtest.js')).runBacktest(paths, o);
  });

const api = () => import('./api-client.js');
const urlOption = ['--url <url>', 'controller URL (or LAAS_URL)', process.env.LAAS_URL ?? 'http://127.0.0.1:7070'] as const;

for (const [name, path, what] of [
  ['hosts', '/api/v1/hosts', 'hosts'],
  ['alerts', '/api/v1/alerts', 'alerts'],
  ['heals', '/api/v1/heals', 'work orders'],
  ['breakers', '/api/v1/breakers', 'circuit breakers'],
] as const) {
  const cmd = program
    .command(name)
    .description(`list ${what} from a controller${name === 'heals' ? "; with an ID, tell that work order's whole story" : ''}`)
    .option(...urlOption)
    .option('--state <state>', 'only this state')
    .option('--json', 'print JSON for scripts');
  if (name !== 'breakers') cmd.argument('[id]', `show one of the ${what}`);
  cmd.action(async (...args: unknown[]) => {
    const [id, o] = name === 'breakers' ? [undefined, args[0]] : args;
    await (await api()).printList(name, path, id as string | undefined, o as { url: string; state?: string; json?: boolean });
  });
}
program.commands
  .find((c) => c.name() === 'breakers')!
  .command('reset')
  .description('close an open circuit breaker so automatic heals may run again')
  .argument('<rule>', 'namespace/name')
  .argument('<host>', 'host id')
  .option(...urlOption)
  .action(async (rule: string, host: string, o: { url: string }) => {
    if (await (await api()).call('POST', '/api/v1/breakers/reset', o, { rule, host })) process.stdout.write(`circuit breaker for ${rule} on ${host} reset\n`);
  });

for (const verb of ['approve', 'reject'] as const) {
  program
    .command(verb)
    .description(`${verb} a work order that waits for approval`)
    .argument('<id>', 'work order id')
    .option('--comment <text>', 'why, for the record')
    .option(...urlOption)
    .action(async (id: string, o: { url: string; comment?: string }) => {
      const out = (await (await api()).call('POST', `/api/v1/heals/${encodeURIComponent(id)}/${verb}`, o, { comment: o.comment ?? '' })) as
        { state: string; reason: string } | undefined;
      if (out) process.stdout.write(printable(`work order ${id}: ${out.state} — ${out.reason}`) + '\n');
    });
}

program
  .command('ack')
  .description('acknowledge a firing alert: it stays firing but stops repeating its page')
  .argument('<id>', 'alert id')
  .option('--comment <text>', 'what you are doing about it')
  .option(...urlOption)
  .action(async (id: string, o: { url: string; comment?: string }) => {
    const out = (await (await api()).call('POST', `/api/v1/alerts/${encodeURIComponent(id)}/ack`, o, { comment: o.comment ?? '' })) as
      { ack: { by: string } } | undefined;
    if (out) process.stdout.write(printable(`alert ${id} acknowledged by ${out.ack.by}`) + '\n');
  });

const silence = program.command('silence').description('mute pages for alerts matching labels, for a while');
silence
  .command('add')
  .description('add a silence: laas silence add host=web-1 alertname=~"disk.*" --duration 2h --comment "disk swap"')
  .argument('<matchers...>', 'label matchers: name=value, name!=value, name=~regex, name!~regex')
  .option('--duration <d>', 'how long, e.g. 30m, 2h', '1h')
  .option('--comment <text>', 'why, for the record', '')
  .option('--pause-heals', 'also stop automatic heals of the matching alerts')
  .option(...urlOption)
  .action(async (matchers: string[], o: { url: string; duration: string; comment: string; pauseHeals?: boolean }) => {
    const out = (await (
      await api()
    ).call('POST', '/api/v1/silences', o, { matchers, duration: o.duration, comment: o.comment, pauseHeals: Boolean(o.pauseHeals) })) as
      { id: string; endsAt: string } | undefined;
    if (out) process.stdout.write(printable(`silence ${out.id} until ${out.endsAt}`) + '\n');
  });
silence
  .command('list')
  .description('list silences (pending, active and recently expired)')
  .option('--json', 'print JSON for scripts')
  .option(...urlOption)
  .action(async (o: { url: string; json?: boolean }) => {
    const out = (await (await api()).call('GET', '/api/v1/silences', o)) as
      | {
          id: string;
          state: string;
          matchers: { name: string; value: string; isRegex: boolean; isEqual: boolean }[];
          endsAt: string;
          createdBy: string;
          comment: string;
          problem?: string;
        }[]
      | undefined;
    if (!out) return;
    if (o.json) {
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      return;
    }
    const op = (m: { isRegex: boolean; isEqual: boolean }) => (m.isEqual ? (m.isRegex ? '=~' : '=') : m.isRegex ? '!~' : '!=');
    for (const s of printableDeep(out)) {
      // A stored silence the controller cannot apply: it mutes nothing until fixed or expired.
      if (s.state === 'invalid') process.stdout.write(`${s.id}  invalid  ${s.problem}  (remove it: laas silence expire ${s.id})\n`);
      else
        process.stdout.write(
          `${s.id}  ${s.state.padEnd(7)}  until ${s.endsAt}  ${s.matchers.map((m) => `${m.name}${op(m)}${m.value}`).join(' ')}  (${s.createdBy}${s.comment ? `: ${s.comment}` : ''})\n`,
        );
    }
    if (out.length === 0) process.stdout.write('(none)\n');
  });
silence
  .command('expire')
  .description('end a silence now')
  .argument('<id>', 'silence id')
  .option(...urlOption)
  .action(async (id: string, o: { url: string }) => {
    if (await (await api()).call('DELETE', `/api/v1/silences/${encodeURIComponent(id)}`, o)) process.stdout.write(`silence ${id} expired\n`);
  });

program
  .command('notifications')
  .description('the notification log: every page sent, failed or muted (newest first)')
  .option('--receiver <name>', 'only this receiver')
  .option('--json', 'print JSON for scripts')
  .option(...urlOption)
  .action(async (o: { url: string; receiver?: string; json?: boolean }) => {
    const q = o.receiver ? `?receiver=${encodeURIComponent(o.receiver)}` : '';
    const out = (await (await api()).call('GET', `/api/v1/notifications${q}`, o)) as
      | { at: string; receiver: string; status: string; outcome: string; alerts: { alertname: string; host: string }[]; error?: string; reason?: string }[]
      | undefined;
    if (!out) return;
    if (o.json) {
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      return;
    }
    for (const e of printableDeep(out))
      process.stdout.write(
        `${e.at}  ${e.receiver}  ${e.outcome.padEnd(8)} ${e.status.padEnd(8)} ${e.alerts.map((a) => `${a.alertname}@${a.host}`).join(', ')}` +
          `${e.error ? `  (${e.error})` : ''}${e.reason ? `  (${e.reason})` : ''}\n`,
      );
    if (out.length === 0) process.stdout.write('(none)\n');
  });

const agents = program
  .command('agents')
  .description('enrolled agents: list, revoke, and enrollment tokens')
  .option(...urlOption)
  .option('--json', 'print JSON for scripts')
  .action(async (o: { url: string; json?: boolean }) => {
    const out = (await (await api()).call('GET', '/api/v1/agents', o)) as
      { id: string; enrolledAt: string; revokedAt: string | null; revokedBy: string | null; connected: boolean }[] | undefined;
    if (!out) return;
    if (o.json) {
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      return;
    }
    for (const a of printableDeep(out))
      process.stdout.write(
        `${a.id}  ${a.revokedAt ? `revoked ${a.revokedAt} by ${a.revokedBy}` : a.connected ? 'connected' : 'enrolled, not connected'}  (enrolled ${a.enrolledAt})\n`,
      );
    if (out.length === 0) process.stdout.write('(none)\n');
  });
agents
  .command('revoke')
  .description("revoke an agent's credential: it is disconnected now and refused from then on")
  .argument('<id>', 'agent id')
  .option(...urlOption)
  .action(async (id: string, o: { url: string }) => {
    if (await (await api()).call('DELETE', `/api/v1/agents/${encodeURIComponent(id)}`, o)) process.stdout.write(`agent ${id} revoked and disconnected\n`);
  });
agents
  .command('forget')
  .description('free an agent id: the next agent to say hello as it (with any allowed token) claims it; an enrolled agent must be revoked first')
  .argument('<id>', 'agent id')
  .option(...urlOption)
  .action(async (id: string, o: { url: string }) => {
    if (await (await api()).call('DELETE', `/api/v1/agents/${encodeURIComponent(id)}/claim`, o))
      process.stdout.write(`agent id ${id} forgotten; the next hello as it claims it\n`);
  });
agents
  .command('enroll-token')
  .description('make an enrollment token for new agents (install.sh agent --enroll-token …)')
  .option('--uses <n>', 'how many agents may enroll with it', (v) => Number(v), 1)
  .option('--ttl <duration>', 'how long it is valid', '1h')
  .option(...urlOption)
  .action(async (o: { url: string; uses: number; ttl: string }) => {
    const out = (await (await api()).call('POST', '/api/v1/enroll-tokens', o, { uses: o.uses, ttl: o.ttl })) as
      { token: string; expiresAt: string; usesLeft: number } | undefined;
    if (out)
      process.stdout.write(
        `${out.token}\n(valid for ${out.usesLeft} enrollment${out.usesLeft === 1 ? '' : 's'} until ${out.expiresAt}; it is shown only once)\n`,
      );
  });

program
  .command('audit')
  .description('the audit log: who changed what, from where, and every refused attempt (newest first)')
  .option('--limit <n>', 'how many entries', (v) => Number(v), 50)
  .option('--authenticated', 'only what authenticated callers and agents did: leave out requests refused before anyone was authenticated')
  .option('--json', 'print JSON for scripts')
  .option(...urlOption)
  .action(async (o: { url: string; limit: number; authenticated?: boolean; json?: boolean }) => {
    const out = (await (await api()).call('GET', `/api/v1/audit?limit=${o.limit}${o.authenticated ? '&unauthenticated=false' : ''}`, o)) as
      | {
          at: string;
          who: string;
          role: string;
          from: string;
          action: string;
          result: string;
          status?: number;
          detail?: string;
          unauthenticated?: boolean;
          count?: number;
        }[]
      | undefined;
    if (!out) return;
    if (o.json) {
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      return;
    }
    for (const e of printableDeep(out)) {
      const who = e.unauthenticated ? `unauthenticated${e.count ? ` ×${e.count}` : ''}` : `${e.who} (${e.role})`;
      process.stdout.write(
        `${e.at}  ${e.result.padEnd(6)}  ${who} from ${e.from}  ${e.action}${e.status ? ` → ${e.status}` : ''}${e.detail ? `  ${e.detail}` : ''}\n`,
      );
    }
    if (out.length === 0) process.stdout.write('(none)\n');
  });

program
  .command('signing-key')
  .description(
    'print the controller\'s instruction-signing public key (PEM), for agents on a shared token to pin: "signingKey" in agent.json, or install.sh agent --signing-key FILE',
  )
  .option(...urlOption)
  .option('--out <file>', 'write it to this file instead of printing it')
  .action(async (o: { url: string; out?: string }) => {
    const out = (await (await api()).call('GET', '/v1/signing-key', o)) as { signingKey?: unknown } | undefined;
    if (!out) return;
    const { publicKeyFromPem } = await import('../protocol/sign.js');
    const pem = typeof out.signingKey === 'string' ? out.signingKey : '';
    try {
      publicKeyFromPem(pem);
    } catch (e) {
      process.stderr.write(`laas: ${o.url} did not answer with an Ed25519 public key (${errorMessage(e)}); is it a laas controller of this release?\n`);
      process.exitCode = 1;
      return;
    }
    if (o.out) {
      (await import('node:fs')).writeFileSync(o.out, pem, { mode: 0o644 });
      process.stderr.write(
        `wrote ${o.out}: pin it with "signingKey": {"file": "${resolve(o.out)}"} in agent.json, or install.sh agent --signing-key ${o.out}\n`,
      );
    } else {
      process.stdout.write(pem.endsWith('\n') ? pem : `${pem}\n`);
    }
  });

const certs = program.command('certs').description('TLS certificates for the controller');
certs
  .command('init')
  .description('make a small CA and a controller certificate signed by it (agents pin ca.pem)')
  .option('--dir <dir>', 'where to write them', './certs')
  .option('--hosts <names>', 'names and addresses agents use to reach the controller, comma-separated', 'localhost,127.0.0.1')
  .option('--days <n>', 'controller certificate lifetime', (v) => Number(v), 825)
  .option('--force', 'replace existing files')
  .action(async (o: { dir: string; hosts: string; days: number; force?: boolean }) => {
    const { initCerts } = await import('./certs.js');
    const out = initCerts(
      resolve(o.dir),
      o.hosts
        .split(',')
        .map((h) => h.trim())
        .filter(Boolean),
      { days: o.days, force: o.force },
    );
    process.stdout.write(
      [
        `wrote ${out.files.ca} (the CA: give it to agents as "ca"), ${out.files.cert} and ${out.files.key} (the controller's: "tls": {"cert", "key"}),`,
        `and ${out.files.caKey} (keep it offline; it signs new controller certificates)`,
      ].join('\n') + '\n',
    );
  });

program
  .command('status')
  .description("this host's laas: controller URL, agent id, enrolled or not, service state, and whether the controller answers (exit 1 if not)")
  .option('--config <file>', 'agent.json or controller.json (default /etc/laas/agent.json, else /etc/laas/controller.json)')
  .option('--json', 'print JSON for scripts')
  .action(async (o: { config?: string; json?: boolean }) => {
    process.exitCode = await (await import('./status.js')).runStatus(o);
  });

program
  .command('pause')
  .description('pause every automatic heal, fleet-wide, until "laas resume"')
  .option('--reason <text>', 'why, for the record and the skipped work orders')
  .option(...urlOption)
  .action(async (o: { url: string; reason?: string }) => {
    if (await (await api()).call('POST', '/api/v1/pause', o, { reason: o.reason ?? '' }))
      process.stdout.write('automatic heals paused fleet-wide; resume with: laas resume\n');
  });
program
  .command('resume')
  .description('let automatic heals run again after "laas pause"')
  .option(...urlOption)
  .action(async (o: { url: string }) => {
    if (await (await api()).call('DELETE', '/api/v1/pause', o)) process.stdout.write('automatic heals resumed\n');
  });

const store = program.command('store').description("the controller's record store");
store
  .command('migrate')
  .description('copy a lowdb store (data dir) into PostgreSQL; safe to run again: records already there are kept, the counts say what was copied')
  .requiredOption('--from <dir>', "the controller's dataDir (or its laas.json); stop that controller first")
  .option('--to <url>', 'PostgreSQL URL, e.g. postgres://laas@db:5432/laas (or LAAS_STORE_URL, which keeps the password out of ps)', process.env.LAAS_STORE_URL)
  .option(
    '--secret-file <file>',
    'the cluster secret the controllers will have ("cluster": {"secret": …}): the signing key is sealed with it (or LAAS_CLUSTER_SECRET)',
  )
  .action(async (o: { from: string; to?: string; secretFile?: string }) => {
    if (!o.to) throw new InvalidArgumentError('give --to <postgres url> or set LAAS_STORE_URL');
    const { migrateLowdbToPostgres } = await import('../controller/store/migrate.js');
    const { resolveSecret } = await import('../protocol/secret.js');
    const clusterSecret = o.secretFile ? resolveSecret({ file: o.secretFile }, '--secret-file') : process.env.LAAS_CLUSTER_SECRET || undefined;
    const counts = await migrateLowdbToPostgres(resolve(o.from), o.to, await createLogger('laas-store'), { clusterSecret });
    for (const [what, c] of Object.entries(counts) as [string, { copied: number; present: number }][])
      process.stdout.write(`${what.padEnd(10)} copied ${c.copied}, already there ${c.present}\n`);
    process.stdout.write('done: point the controllers at it with "store": {"type": "postgres", "url": ...}\n');
  });

const demo = program.command('demo', { hidden: true }).description('the demo service that laas up heals');
demo
  .command('start')
  .requiredOption('--port <port>', 'port', port)
  .requiredOption('--pidfile <file>', 'pid file')
  .action(async (o: { port: number; pidfile: string }) => {
    process.exitCode = await demoStart(CLI_PATH, o.port, o.pidfile);
  });
demo
  .command('stop')
  .requiredOption('--pidfile <file>', 'pid file')
  .action((o: { pidfile: string }) => {
    process.exitCode = demoStop(o.pidfile);
  });

program.parseAsync().catch((e: unknown) => {
  // Config and rule errors carry their location already; print them plainly, not as a stack.
  process.stderr.write(`laas: ${isLaasError(e) ? `${e.code}: ${e.message}` : errorMessage(e)}\n`);
  process.exit(1);
});
