import type { NotificationLogEntry } from '../model.js';
import type { Store } from '../store/store.js';

/**
 * The notification log: every delivery attempt, failure and muted page, newest last, capped;
 * kept in the store so it survives a restart. Read it from GET /api/v1/notifications.
 */
export class NotificationLog {
  private entries: NotificationLogEntry[] = [];

  constructor(
    private readonly store: Store,
    private readonly max = 1000,
  ) {}

  async restore(): Promise<void> {
    this.entries = (await this.store.getState('notifications')) ?? [];
  }

  add(entry: NotificationLogEntry): void {
    this.entries.push(entry);
    if (this.entries.length > this.max) this.entries.splice(0, this.entries.length - this.max);
    void this.store.putState('notifications', this.entries);
  }

  list(filter: { receiver?: string; outcome?: string; limit?: number } = {}): NotificationLogEntry[] {
    const out = this.entries.filter((e) => (!filter.receiver || e.receiver === filter.receiver) && (!filter.outcome || e.outcome === filter.outcome));
    return out.slice(-(filter.limit ?? out.length)).reverse();
  }
}
