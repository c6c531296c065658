import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { hostname, release } from 'node:os';
import {
  ACTION_NAMES,
  LAAS_VERSION,
  errorMessage,
  publicKeyFromPem,
  verifyRun,
  type ErrorCode,
  type Hello,
  type Logger,
  type Result,
  type Run,
  type Sample,
} from '../protocol/index.js';
import { childEnv } from './child-env.js';
import { credentials } from './enroll.js';
import { runInstruction } from './actions/index.js';
import { createCollectors } from './collectors/index.js';
import type { AgentConfig } from './config.js';
import { AgentLink } from './link.js';
import { startAgentMetrics } from './metrics.js';
import { RunJournal } from './run-journal.js';
import { ServiceWatcher } from './services.js';
import { createSources, sourceFacts } from './sources/index.js';
import { timeStalls } from './stalls.js';

const NO_KEY =
  'this agent pins no controller signing key: enroll it ("enrollToken"), or set "signingKey" in agent.json to the controller\'s public key (laas signing-key prints it)';

export interface Agent {
  readonly link: AgentLink;
  stop(): Promise<void>;
}

/** Builds the agent's parts and wires them: collectors and probes feed samples to the link, instructions run actions. */
export async function startAgent(config: AgentConfig, { log }: { log: Logger }): Promise<Agent> {
  const creds = await credentials(config, log);
  const signingKey = creds.signingKey ? publicKeyFromPem(creds.signingKey) : undefined;
  // Still worth running: it monitors and reports; it only refuses every instruction.
  if (!signingKey) log.error({ code: 'ACTION_NO_SIGNING_KEY' }, `${NO_KEY}; it monitors and reports, but runs no instruction`);
  const collectors = createCollectors();
  const instance = randomUUID();
  let facts: Partial<Pick<Sample, 'cpu' | 'memory' | 'disk' | 'net'>> = {};
  let seq = 0;
  if (config.stateDir) mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  // Named by agent id, so agents sharing a folder (several configs in one place) keep apart.
  const state = config.stateDir && join(config.stateDir, `laas-${encodeURIComponent(config.id)}`);
  // Instruction ids survive restarts, so one sent again (resend or replay) never runs twice.
  const journal = new RunJournal(state && `${state}.runs.json`, log);
  const running = new Set<string>();

  const sample = (trigger: Sample['trigger']): Sample => ({
    seq: seq++,
    ts: Date.now(),
    trigger,
    ...facts,
    ...sourceFacts(sources),
    service: services.snapshot(),
  });

  const services = new ServiceWatcher({
    services: config.services,
    env: childEnv(process.env, config),
    log,
    onChange: (name, state) => {
      log.info({ service: name, up: state.up, detail: state.detail }, `service ${name} is ${state.up ? 'up' : 'down'}`);
      // Detection must not wait for the next interval: report the change at once.
      link.sendSample(sample('service-change'));
    },
  });

  // Checks, scrapes, certificates, pings, DNS and logs, each on its own schedule.
  const sources = createSources(config, {
    log,
    env: childEnv(process.env, config),
    changed: (trigger) => link.sendSample(sample(trigger)),
  });

  const link: AgentLink = new AgentLink({
    url: config.controller,
    urls: config.controllers,
    token: creds.token,
    ca: config.ca,
    log,
    reconnect: config.reconnect,
    outboxLimit: config.outboxLimit,
    sampleBufferLimit: config.sampleBufferLimit,
    idleTimeoutMs: config.idleTimeoutMs,
    ...(state ? { outboxFile: `${state}.outbox.json` } : {}),
    hello: (): Hello => ({
      agentId: config.id,
      agentVersion: LAAS_VERSION,
      hostname: hostname(),
      labels: { ...config.labels },
      instance,
      os: { platform: process.platform, release: release() },
      intervalMs: config.intervalMs,
      services: config.services.map((s) => s.name),
      actions: [...ACTION_NAMES],
      scripts: Object.keys(config.scripts),
      results: link.pendingResultIds(),
    }),
    onWelcome: () => link.sendSample(sample('startup')),
    onRun: (run) => void onRun(run),
    // Probe first, so the sample says what the services look like now.
    onCollect: () => void services.probeNow().then(() => link.sendSample(sample('request'))),
  });

  /** The agent owns its safety: an instruction runs only if it is for this host, signed by the pinned key, and new. */
  function refusal(run: Run): Result | undefined {
    const refuse = (code: ErrorCode, message: string): Result => {
      log.warn({ id: run.id, action: run.action, code }, `instruction refused: ${message}`);
      return {
        id: run.id,
        action: run.action,
        outcome: 'refused',
        exitCode: null,
        signal: null,
        stdout: '',
        stderr: '',
        truncated: false,
        startedAt: Date.now(),
        durationMs: 0,
        error: { code, message },
      };
    };
    if (run.host !== config.id) return refuse('ACTION_NOT_ALLOWED', `instruction is addressed to host "${run.host}", this is "${config.id}"`);
    if (!signingKey) return refuse('ACTION_NO_SIGNING_KEY', `${NO_KEY}, so it runs no instruction`);
    if (!verifyRun(run, signingKey))
      return refuse(
        'ACTION_BAD_SIGNATURE',
        run.sig ? 'the signature does not match the pinned controller key (tampered, or another controller)' : 'the instruction is not signed',
      );
    const seen = journal.get(run.id);
    if (seen?.outcome === 'running')
      return refuse(
        'ACTION_REPLAYED',
        `instruction ${run.id} was started here at ${new Date(seen.at).toISOString()} and the agent stopped while it ran; not run again`,
      );
    if (seen)
      return refuse('ACTION_REPLAYED', `instruction ${run.id} already ran here (${seen.outcome}, started ${new Date(seen.at).toISOString()}); not run again`);
    return undefined;
  }

  async function onRun(run: Run): Promise<void> {
    link.ack(run.id);
    if (running.has(run.id)) return;
    // A resend whose result the controller has not acknowledged yet: that result is on its way.
    if (link.hasPendingResult(run.id)) return;
    const refused = refusal(run);
    if (refused) {
      link.sendResult(refused);
      return;
    }
    running.add(run.id);
    let result: Result;
    try {
      // Write-ahead: the id is on disk before the action starts, so no restart can run it twice.
      try {
        await journal.begin(run);
      } catch (e) {
        log.error({ id: run.id, err: errorMessage(e) }, 'cannot record the instruction id; not running it');
        link.sendResult({
          id: run.id,
          action: run.action,
          outcome: 'failed',
          exitCode: null,
          signal: null,
          stdout: '',
          stderr: '',
          truncated: false,
          startedAt: Date.now(),
          durationMs: 0,
          error: { code: 'ACTION_INTERNAL_ERROR', message: `the agent cannot write its state file: ${errorMessage(e)}` },
        });
        return;
      }
      log.info({ id: run.id, action: run.action, params: run.params }, 'running instruction');
      result = await runInstruction(run, { config, log });
      await journal.finish(result).catch((e: unknown) => log.error({ id: run.id, err: errorMessage(e) }, 'cannot record the instruction outcome'));
    } finally {
      running.delete(run.id);
    }
    log.info(
      { id: run.id, action: run.action, outcome: result.outcome, exitCode: result.exitCode, ms: Math.round(result.durationMs) },
      `instruction ${result.outcome}`,
    );
    link.sendResult(result);
    // A heal usually changes what the probes see: look again now rather than at the next tick.
    void services.probeNow();
  }

  /** Collection must never block the loop long (probes and instructions wait behind it): measure it. */
  async function collect(): Promise<void> {
    const { ms, stallMs } = await timeStalls(collectFacts);
    if (stallMs > 100) log.warn({ ms: Math.round(ms), stallMs }, `collection blocked the event loop for ${stallMs}ms`);
    else if (log.isLevelEnabled('debug')) log.debug({ ms: Math.round(ms), stallMs, memory: process.memoryUsage() }, 'collected');
  }

  async function collectFacts(): Promise<void> {
    const out = await Promise.all(
      collectors.map(async (c) => {
        try {
          return [c.name, await c.collect()] as const;
        } catch (e) {
          log.debug({ collector: c.name, err: errorMessage(e) }, 'collector failed');
          return [c.name, undefined] as const;
        }
      }),
    );
    facts = Object.fromEntries(out.filter(([, v]) => v !== undefined));
  }

  // The agent's own /metrics, only when configured (prom-client is loaded only then).
  const metrics =
    config.metrics && (await startAgentMetrics({ listen: config.metrics.listen, link, log, facts: () => ({ ...facts, service: services.snapshot() }) }));
  await collect();
  services.start();
  for (const s of sources) s.start();
  link.start();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = async () => {
    await collect();
    if (stopped) return;
    link.sendSample(sample('interval'));
    timer = setTimeout(() => void tick(), config.intervalMs);
  };
  timer = setTimeout(() => void tick(), config.intervalMs);
  log.info({ id: config.id, controller: config.controllers.join(' '), services: config.services.length, intervalMs: config.intervalMs }, 'agent started');

  return {
    link,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      services.stop();
      await Promise.all(sources.map((s) => s.stop()));
      await link.stop();
      await metrics?.stop();
      log.info('agent stopped');
    },
  };
}
