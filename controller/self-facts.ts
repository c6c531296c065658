import { compareVersions, LAAS_VERSION } from '../protocol/index.js';
import type { Metrics } from './metrics.js';
import type { HostRecord } from './model.js';

/** A counter of the controller's: since it started, and over the last 5 minutes, 15 minutes and hour. */
export interface Recent {
  total: number;
  last5m: number;
  last15m: number;
  lastHour: number;
}

/** The `controller` fact: what rules with `"scope": "controller"` judge (docs/facts.md). */
export interface ControllerFacts {
  version: string;
  hosts: { total: number; up: number; down: number; agentsBehind: number };
  /** Heal actions (steps) that ended, and that failed; the share that failed in the last hour (0 when none ended). */
  heals: { finished: Recent; failed: Recent; failureRatioLastHour: number };
  notifications: { sent: Recent; failed: Recent };
  store: { writeErrors: Recent };
  rules: { reloadsFailed: Recent };
}

const SPANS = { last5m: 300_000, last15m: 900_000, lastHour: 3_600_000 } as const;
type Counts = Record<'healsOk' | 'healsFailed' | 'sent' | 'failed' | 'writeErrors' | 'reloadsFailed', number>;

type Metric = { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> };
async function sum(metric: Metric, label?: [string, string]): Promise<number> {
  let n = 0;
  for (const v of (await metric.get()).values) if (!label || v.labels[label[0]] === label[1]) n += v.value;
  return n;
}

/**
 * Reads the controller's own health from its metrics and host registry. Counters are kept at
 * each read (every SELF_INTERVAL_MS: ~360 reads an hour) so each comes with what it grew by in
 * the last 5 minutes, 15 minutes and hour — known from the start, as every counter starts at 0
 * with the process: a rule on them needs no window to fill first.
 */
export class ControllerFactsReader {
  private readonly reads: { at: number; counts: Counts }[];

  constructor(
    private readonly metrics: Metrics,
    private readonly hosts: () => readonly HostRecord[],
    startedAt: number,
  ) {
    this.reads = [{ at: startedAt, counts: { healsOk: 0, healsFailed: 0, sent: 0, failed: 0, writeErrors: 0, reloadsFailed: 0 } }];
  }

  async read(now: number): Promise<ControllerFacts> {
    const m = this.metrics;
    const counts: Counts = {
      healsOk: await sum(m.healActions, ['outcome', 'succeeded']),
      healsFailed: await sum(m.healActions, ['outcome', 'failed']),
      sent: await sum(m.notifyAttempts, ['outcome', 'sent']),
      failed: await sum(m.notifyAttempts, ['outcome', 'failed']),
      writeErrors: await sum(m.storeWriteErrors),
      reloadsFailed: await sum(m.rulesReloads, ['outcome', 'failed']),
    };
    this.reads.push({ at: now, counts });
    // The newest read at least an hour old is the last one any span needs.
    while (this.reads.length > 1 && now - this.reads[1].at >= SPANS.lastHour) this.reads.shift();
    const recent = (k: keyof Counts): Recent => ({
      total: counts[k],
      last5m: this.grew(k, now, SPANS.last5m),
      last15m: this.grew(k, now, SPANS.last15m),
      lastHour: this.grew(k, now, SPANS.lastHour),
    });
    const finished = (span: 'total' | keyof typeof SPANS): number =>
      span === 'total' ? counts.healsOk + counts.healsFailed : this.grew('healsOk', now, SPANS[span]) + this.grew('healsFailed', now, SPANS[span]);
    const failed = recent('healsFailed');
    const hosts = this.hosts();
    const up = hosts.filter((h) => h.connected).length;
    return {
      version: LAAS_VERSION,
      hosts: {
        total: hosts.length,
        up,
        down: hosts.length - up,
        agentsBehind: hosts.filter((h) => h.agentVersion && compareVersions(h.agentVersion, LAAS_VERSION) < 0).length,
      },
      heals: {
        finished: { total: finished('total'), last5m: finished('last5m'), last15m: finished('last15m'), lastHour: finished('lastHour') },
        failed,
        failureRatioLastHour: finished('lastHour') > 0 ? Math.round((failed.lastHour / finished('lastHour')) * 1000) / 1000 : 0,
      },
      notifications: { sent: recent('sent'), failed: recent('failed') },
      store: { writeErrors: recent('writeErrors') },
      rules: { reloadsFailed: recent('reloadsFailed') },
    };
  }

  /** What counter `k` grew by since the newest read at least `span` old (the process start while there is none). */
  private grew(k: keyof Counts, now: number, span: number): number {
    let base = this.reads[0];
    for (const r of this.reads) {
      if (now - r.at < span) break;
      base = r;
    }
    return this.reads[this.reads.length - 1].counts[k] - base.counts[k];
  }
}

/** A controller with nothing wrong (the start of `laas rules test` timelines). */
export function quietController(hosts: number): ControllerFacts {
  const zero = (): Recent => ({ total: 0, last5m: 0, last15m: 0, lastHour: 0 });
  return {
    version: LAAS_VERSION,
    hosts: { total: hosts, up: hosts, down: 0, agentsBehind: 0 },
    heals: { finished: zero(), failed: zero(), failureRatioLastHour: 0 },
    notifications: { sent: zero(), failed: zero() },
    store: { writeErrors: zero() },
    rules: { reloadsFailed: zero() },
  };
}
