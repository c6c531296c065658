import cron, { type ScheduledTask } from 'node-cron';
import { errorMessage, type Logger } from '../protocol/index.js';
import type { Rule } from './rules/schema.js';

/** Runs scheduled rules on their cron timetable; a rule reload replaces every task. */
export class Scheduler {
  private tasks: ScheduledTask[] = [];

  /** `run` gets the tick's fire time (ISO, to the second), the key several controllers share a run by. */
  constructor(private readonly deps: { log: Logger; run: (ruleId: string, fireAt: string) => Promise<unknown> }) {}

  set(rules: readonly Rule[]): void {
    this.stop();
    for (const rule of rules) {
      if (!rule.schedule) continue;
      const task = cron.createTask(
        rule.schedule,
        async (ctx) => {
          const fireAt = new Date(Math.round((ctx?.date ?? new Date()).getTime() / 1000) * 1000).toISOString();
          this.deps.log.info({ rule: rule.id, schedule: rule.schedule, fireAt }, 'scheduled rule run');
          await this.deps.run(rule.id, fireAt).catch((e: unknown) => this.deps.log.error({ rule: rule.id, err: errorMessage(e) }, 'scheduled run failed'));
        },
        { name: rule.id, noOverlap: true, unref: true },
      );
      void task.start();
      this.tasks.push(task);
    }
  }

  stop(): void {
    for (const t of this.tasks) void t.destroy();
    this.tasks = [];
  }
}
