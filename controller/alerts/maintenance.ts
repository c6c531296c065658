import cron from 'node-cron';
import { z } from 'zod';
import { zDuration } from '../../protocol/zod.js';

export const maintenanceSchema = z.strictObject({
  name: z.string().min(1),
  /** When each window opens: a 5-field cron expression (minute granularity). */
  schedule: z.string().superRefine((expr, ctx) => {
    if (expr.trim().split(/\s+/).length !== 5)
      ctx.addIssue({ code: 'custom', message: `expected a 5-field cron expression (minute hour day month weekday), got ${JSON.stringify(expr)}` });
    else if (!cron.validate(expr)) ctx.addIssue({ code: 'custom', message: `bad cron expression ${JSON.stringify(expr)}` });
  }),
  duration: zDuration.refine((ms) => ms >= 60_000 && ms <= 7 * 86_400_000, 'a window lasts from 1m to 7d'),
  /** Hosts covered, by labels; absent covers every host. */
  hosts: z
    .record(z.string(), z.string())
    .refine((h) => Object.keys(h).length > 0, 'an empty host selector is ambiguous: omit "hosts" to cover every host')
    .optional(),
  timezone: z.string().optional(),
});
export type MaintenanceWindow = z.output<typeof maintenanceSchema>;

/**
 * Maintenance windows: while one covers a host, its alerts are not paged and automatic heals
 * there are skipped (both recorded). A window is open when its cron matched a minute within the
 * last `duration`.
 */
export class Maintenance {
  private readonly tasks: { w: MaintenanceWindow; match: (d: Date) => boolean }[];
  private cache: { minute: number; open: Set<string> } | undefined;

  constructor(windows: readonly MaintenanceWindow[]) {
    this.tasks = windows.map((w) => {
      const task = cron.createTask(w.schedule, () => undefined, { timezone: w.timezone, name: `maintenance:${w.name}` });
      return { w, match: (d: Date) => task.match(d) };
    });
  }

  /** The open window covering a host with these labels, if any. */
  covering(host: { id: string; labels: Readonly<Record<string, string>> }, now: number): string | null {
    for (const name of this.openAt(now)) {
      const w = this.tasks.find((t) => t.w.name === name)!.w;
      if (!w.hosts || Object.entries(w.hosts).every(([k, v]) => (k === 'id' && !('id' in host.labels) ? host.id === v : host.labels[k] === v))) return name;
    }
    return null;
  }

  private openAt(now: number): Set<string> {
    const minute = Math.floor(now / 60_000);
    if (this.cache?.minute === minute) return this.cache.open;
    const open = new Set<string>();
    for (const { w, match } of this.tasks) {
      for (let m = minute; m > minute - w.duration / 60_000; m--) {
        if (match(new Date(m * 60_000))) {
          open.add(w.name);
          break;
        }
      }
    }
    this.cache = { minute, open };
    return open;
  }
}
