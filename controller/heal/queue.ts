/**
 * Heals waiting for a turn: firing alerts whose heal a concurrency brake deferred (asked for
 * again when a heal finishes), and the hosts of a scheduled run waiting for a slot under the
 * rule's maxConcurrent (or one a concurrency brake deferred: a slot held on another controller).
 */
export class HealQueue {
  private readonly deferred = new Map<string, { rule: string; host: string }>();
  private readonly scheduled = new Map<string, string[]>();

  defer(rule: string, host: string): void {
    this.deferred.set(key(rule, host), { rule, host });
  }

  /** The fault cleared: nothing to heal any more. */
  cancel(rule: string, host: string): void {
    this.deferred.delete(key(rule, host));
  }

  /**
   * The deferred heals, each handed out once: two heals ending together must not both retry the
   * same alert (the second would find its order open and record a needless "still open" skip).
   */
  *takeDeferred(): Generator<{ rule: string; host: string }> {
    for (const [k, d] of [...this.deferred]) if (this.deferred.delete(k)) yield d;
  }

  /** Adds a scheduled run's hosts to the rule's line (a host already waiting is not added twice). */
  enqueue(rule: string, hosts: readonly string[]): void {
    const line = this.scheduled.get(rule) ?? [];
    for (const h of hosts) if (!line.includes(h)) line.push(h);
    this.scheduled.set(rule, line);
  }

  /** The next host of the rule's scheduled line, if any. */
  next(rule: string): string | undefined {
    const line = this.scheduled.get(rule);
    const host = line?.shift();
    if (line && line.length === 0) this.scheduled.delete(rule);
    return host;
  }

  /** A scheduled host a concurrency brake deferred: first in its line again, for the next free slot. */
  putBack(rule: string, host: string): void {
    const line = this.scheduled.get(rule) ?? [];
    if (!line.includes(host)) line.unshift(host);
    this.scheduled.set(rule, line);
  }

  /** The host next in the rule's scheduled line, left in it. */
  first(rule: string): string | undefined {
    return this.scheduled.get(rule)?.[0];
  }

  waiting(rule: string): number {
    return this.scheduled.get(rule)?.length ?? 0;
  }

  /** The rules with scheduled hosts waiting. */
  waitingRules(): string[] {
    return [...this.scheduled.keys()];
  }

  /** Several controllers: the host moved away; nothing of it waits here. */
  forget(host: string): void {
    for (const [k, d] of [...this.deferred]) if (d.host === host) this.deferred.delete(k);
    for (const line of this.scheduled.values()) {
      const i = line.indexOf(host);
      if (i >= 0) line.splice(i, 1);
    }
  }
}

function key(rule: string, host: string): string {
  return `${rule}\u0000${host}`;
}
