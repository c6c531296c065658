import * as v from 'valibot';
import { strictObject, validator, wholeNumber, type Logger, type Result, type Run } from '../protocol/index.js';
import { StateFile } from './state-file.js';

/** Instruction ids remembered at most; past this the oldest are forgotten (their deadline guards them). */
export const MAX_REMEMBERED_RUNS = 10_000;
/** Kept this long past an instruction's deadline, for clocks that disagree a little. */
const KEEP_PAST_DEADLINE_MS = 10 * 60_000;

const entrySchema = strictObject({
  id: v.pipe(v.string(), v.minLength(1), v.maxLength(200)),
  deadline: wholeNumber(),
  /** Absent while running: an entry still running at load is an action the agent's death interrupted. */
  outcome: v.optional(v.picklist(['succeeded', 'failed', 'refused', 'timed-out'])),
  at: wholeNumber(),
});
const fileSchema = strictObject({ version: v.literal(1), runs: v.pipe(v.array(entrySchema), v.maxLength(MAX_REMEMBERED_RUNS)) });
type Entry = v.InferOutput<typeof entrySchema>;

/**
 * The instruction ids this agent has started, kept across its own restarts so a resend or
 * a replay never runs twice. An id is written to disk BEFORE its action runs (write-ahead),
 * and forgotten once its deadline is long past — after that the deadline refuses it anyway.
 */
export class RunJournal {
  private readonly runs = new Map<string, Entry>();
  private readonly file: StateFile<v.InferOutput<typeof fileSchema>> | undefined;
  /** The next write, not yet started: changes made meanwhile ride on it (one fsync for a burst). */
  private nextWrite: Promise<void> | undefined;
  private writing: Promise<void> = Promise.resolve();

  /** Without a file the journal lives in memory only (tests, embedded use). */
  constructor(
    file: string | undefined,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
    private readonly cap = MAX_REMEMBERED_RUNS,
  ) {
    this.file = file ? new StateFile(file, validator(fileSchema), log) : undefined;
    const saved = this.file?.load();
    for (const e of saved?.runs ?? []) this.runs.set(e.id, e);
    this.prune();
    const interrupted = [...this.runs.values()].filter((e) => !e.outcome).length;
    if (saved) this.log.info({ remembered: this.runs.size, interrupted }, 'instruction ids restored');
  }

  /** What became of an id seen before: 'running' (now, or when the agent last stopped) or its outcome. */
  get(id: string): { outcome: Result['outcome'] | 'running'; at: number } | undefined {
    const e = this.runs.get(id);
    return e && { outcome: e.outcome ?? 'running', at: e.at };
  }

  get size(): number {
    return this.runs.size;
  }

  /** Records that the run starts; resolves once that is on disk. The caller marks it in memory at once. */
  begin(run: Run): Promise<void> {
    this.runs.set(run.id, { id: run.id, deadline: run.deadline, at: this.clock() });
    this.prune();
    return this.save();
  }

  finish(result: Result): Promise<void> {
    const e = this.runs.get(result.id);
    if (!e) return Promise.resolve();
    e.outcome = result.outcome;
    return this.save();
  }

  private prune(): void {
    const now = this.clock();
    for (const [id, e] of this.runs) if (e.deadline + KEEP_PAST_DEADLINE_MS < now && e.outcome) this.runs.delete(id);
    while (this.runs.size > this.cap) this.runs.delete(this.runs.keys().next().value as string);
  }

  /** Resolves once a write that started after this call is on disk. */
  private save(): Promise<void> {
    const file = this.file;
    if (!file) return Promise.resolve();
    this.nextWrite ??= this.writing
      .catch(() => undefined)
      .then(() => {
        this.nextWrite = undefined;
        this.writing = file.save({ version: 1, runs: [...this.runs.values()] });
        return this.writing;
      });
    return this.nextWrite;
  }
}
