import { errorMessage, type Logger } from '../../protocol/index.js';

/** One named look a source takes on its own interval (a certificate, a ping, a DNS query). */
export interface Job<R> {
  readonly name: string;
  readonly intervalMs: number;
  /** Never meant to throw: a failure is a result with the reason (a throw becomes one via `failed`). */
  run(signal: AbortSignal): Promise<R>;
}

/** The first look of each job lands within this much of start, spread so jobs do not fire at once. */
const FIRST_RUN_SPREAD_MS = 2000;

/**
 * Runs each job on its own setTimeout chain (the next run is scheduled when the last one ends, so
 * runs of one job never overlap and a slow one cannot pile up) and keeps each job's latest result.
 */
export class ScheduledJobs<R> {
  private readonly results = new Map<string, R>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();
  private abort = new AbortController();
  private started = false;

  constructor(
    private readonly jobs: readonly Job<R>[],
    /** The result a job that threw stands for, with the reason. */
    private readonly failed: (reason: string) => R,
    private readonly log: Logger,
    private readonly random: () => number = Math.random,
  ) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    this.abort = new AbortController();
    for (const job of this.jobs) this.schedule(job, Math.floor(this.random() * Math.min(FIRST_RUN_SPREAD_MS, job.intervalMs)));
  }

  /** Stops the timers, cancels the runs in flight and waits for them to end. */
  async stop(): Promise<void> {
    this.started = false;
    this.abort.abort();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.all(this.running);
  }

  /** The latest result of each job that has run, by name; undefined before any. */
  snapshot(): Record<string, R> | undefined {
    return this.results.size === 0 ? undefined : Object.fromEntries(this.results);
  }

  /** Runs one job now, outside its schedule (tests, and a look asked for at once). */
  async runNow(name: string): Promise<R | undefined> {
    const job = this.jobs.find((j) => j.name === name);
    if (job === undefined) return undefined;
    await this.track(job, this.abort.signal);
    return this.results.get(name);
  }

  private schedule(job: Job<R>, delayMs: number): void {
    const signal = this.abort.signal;
    const timer = setTimeout(() => {
      void this.track(job, signal).then(() => {
        if (this.started && !signal.aborted) this.schedule(job, job.intervalMs);
      });
    }, delayMs);
    // The link keeps the agent alive; a source's timer must not keep a stopping one.
    timer.unref();
    this.timers.set(job.name, timer);
  }

  private track(job: Job<R>, signal: AbortSignal): Promise<void> {
    const run = (async () => {
      let result: R;
      try {
        result = await job.run(signal);
      } catch (e) {
        this.log.warn({ job: job.name, err: errorMessage(e) }, 'source job failed');
        result = this.failed(errorMessage(e));
      }
      if (!signal.aborted) this.results.set(job.name, result);
    })();
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
    return run;
  }
}
