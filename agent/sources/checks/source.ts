import type { Logger } from '../../../protocol/index.js';
import type { FactSource, SourceFactory } from '../types.js';
import type { CheckConfig } from './config.js';
import { runCheck, type CheckFact, type RunOptions } from './run.js';

/** Plugins running at once: twenty checks due together must not become twenty processes on a busy host. */
export const CHECK_CONCURRENCY = 4;
/** First runs are spread over the interval, at most this long, so checks started together do not stay in step. */
const FIRST_RUN_SPREAD_MS = 30_000;

export interface CheckSourceOptions {
  checks: readonly CheckConfig[];
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** A check's state changed (or its first result is not ok): rules should see it now. */
  changed: () => void;
  concurrency?: number;
  /** In [0, 1): where in the spread each first run falls. */
  random?: () => number;
  now?: () => number;
  /** Runs one check; tests may pass one that counts. */
  run?: (check: CheckConfig, opts: RunOptions) => Promise<CheckFact>;
}

/**
 * Runs each check on its own interval — the next run an interval after the last one started,
 * never two of one check at once — with at most `concurrency` plugins running; the rest wait
 * their turn in order. The snapshot is the last result of every check that has run.
 */
export class CheckSource implements FactSource<'check'> {
  readonly fact = 'check';
  private readonly results = new Map<string, CheckFact>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly queue: CheckConfig[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly concurrency: number;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly run: NonNullable<CheckSourceOptions['run']>;
  private abort: AbortController | undefined;
  private changePending = false;

  constructor(private readonly opts: CheckSourceOptions) {
    this.concurrency = Math.max(1, opts.concurrency ?? CHECK_CONCURRENCY);
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    this.run = opts.run ?? runCheck;
  }

  start(): void {
    if (this.abort) return;
    this.abort = new AbortController();
    for (const check of this.opts.checks) this.schedule(check, this.random() * Math.min(check.intervalMs, FIRST_RUN_SPREAD_MS));
  }

  async stop(): Promise<void> {
    const abort = this.abort;
    if (!abort) return;
    this.abort = undefined;
    // Running plugins get SIGTERM (their whole process group), then SIGKILL: none outlives the agent.
    abort.abort();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.queue.length = 0;
    await Promise.all(this.inFlight);
  }

  snapshot(): Record<string, CheckFact> | undefined {
    return this.results.size === 0 ? undefined : Object.fromEntries(this.results);
  }

  private schedule(check: CheckConfig, delayMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(check.name);
      this.queue.push(check);
      this.pump();
    }, delayMs);
    timer.unref();
    this.timers.set(check.name, timer);
  }

  private pump(): void {
    const abort = this.abort;
    while (abort && this.inFlight.size < this.concurrency && this.queue.length > 0) {
      const check = this.queue.shift()!;
      const p = this.runOne(check, abort.signal).finally(() => {
        this.inFlight.delete(p);
        this.pump();
      });
      this.inFlight.add(p);
    }
  }

  private async runOne(check: CheckConfig, signal: AbortSignal): Promise<void> {
    const started = this.now();
    let fact: CheckFact;
    try {
      fact = await this.run(check, { env: this.opts.env, signal, now: this.now });
    } catch (e) {
      // runCheck never rejects; a swapped-in runner might, and the loop must go on.
      fact = { status: 3, state: 'unknown', output: `the check could not run: ${(e as Error).message}`.slice(0, 500), perf: {}, durationMs: 0, at: this.now() };
    }
    if (signal.aborted) return;
    this.record(check, fact);
    this.schedule(check, Math.max(0, check.intervalMs - (this.now() - started)));
  }

  private record(check: CheckConfig, fact: CheckFact): void {
    const before = this.results.get(check.name);
    this.results.set(check.name, fact);
    if (before ? before.status === fact.status : fact.status === 0) return;
    this.opts.log.info(
      { check: check.name, state: fact.state, output: fact.output },
      `check ${check.name} is ${fact.state}${before ? ` (was ${before.state})` : ''}: ${fact.output}`,
    );
    // Several checks ending in one turn of the event loop make one sample, not one each.
    if (this.changePending) return;
    this.changePending = true;
    setImmediate(() => {
      this.changePending = false;
      if (this.abort) this.opts.changed();
    });
  }
}

/** The `checks` section of agent.json as a source; none when it lists no check. */
export const checkSource: SourceFactory = (config, ctx) => {
  const checks = config.sources.checks;
  if (checks.length === 0) return undefined;
  return new CheckSource({ checks, env: ctx.env, log: ctx.log.child({ part: 'checks' }), changed: () => ctx.changed('check-change') });
};
