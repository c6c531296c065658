import { errorMessage, type Logger } from '../protocol/index.js';
import type { ControllerConfig } from './config.js';
import type { Metrics } from './metrics.js';
import type { Rule } from './rules/schema.js';

/** What a running controller takes from a changed controller.json; the rest needs a restart. */
export const RELOADABLE = ['receivers', 'route', 'maintenance', 'inhibit'] as const;
export type Reloadable = Pick<ControllerConfig, (typeof RELOADABLE)[number]>;

export interface ConfigReloadOutcome {
  ok: boolean;
  /** Sections that changed and are in force now. */
  applied: string[];
  /** Sections that changed and wait for a restart (listen, tls, store, tokens…): the running values stay. */
  needsRestart: string[];
  /** Why nothing was applied: the file and JSON pointer, and what is wrong. */
  error?: string;
}

export interface ConfigReloadDeps {
  file: string;
  load: (file: string) => ControllerConfig;
  /** Puts the new routing, receivers, maintenance windows and inhibitions in force. */
  apply: (next: Reloadable) => void;
  /** The rules in force: a receiver one of them names may not disappear. */
  rules: () => readonly Rule[];
  metrics: Metrics;
  log: Logger;
}

/**
 * Reloads controller.json (SIGHUP, `POST /api/v1/config/reload`) the way rules reload: a file that
 * does not validate, or that drops a receiver a rule in force names, changes nothing and says
 * why; otherwise receivers, the routing tree, maintenance windows and inhibitions apply at once
 * — alerts, silences and work orders stay — and sections that only a restart can change are
 * named and left as they run.
 */
export class ConfigReloader {
  constructor(
    private current: ControllerConfig,
    private readonly deps: ConfigReloadDeps,
  ) {}

  reload(): ConfigReloadOutcome {
    const { deps } = this;
    let next: ControllerConfig;
    try {
      next = deps.load(deps.file);
      const named = deps.rules().flatMap((r) => r.notify.filter((n) => !Object.hasOwn(next.receivers, n)).map((n) => `rule ${r.id} names receiver "${n}"`));
      if (named.length) throw new Error(`${deps.file} /receivers: ${named.join('; ')}, which this file no longer defines; remove it from the rule first`);
    } catch (e) {
      const error = errorMessage(e);
      deps.metrics.configReloads.inc({ outcome: 'failed' });
      deps.log.error({ err: error, file: deps.file }, 'controller.json not reloaded: the running config stays; fix the file and send SIGHUP again');
      return { ok: false, applied: [], needsRestart: [], error };
    }
    const changed = (Object.keys(next) as (keyof ControllerConfig)[]).filter((k) => JSON.stringify(next[k]) !== JSON.stringify(this.current[k]));
    const applied = changed.filter((k) => (RELOADABLE as readonly string[]).includes(k));
    // Named as the file names them.
    const needsRestart = changed.filter((k) => !(RELOADABLE as readonly string[]).includes(k)).map((k) => (k === 'hostDownAfterMs' ? 'hostDownAfter' : k));
    if (applied.length) {
      deps.apply({ receivers: next.receivers, route: next.route, maintenance: next.maintenance, inhibit: next.inhibit });
      this.current = { ...this.current, receivers: next.receivers, route: next.route, maintenance: next.maintenance, inhibit: next.inhibit };
    }
    deps.metrics.configReloads.inc({ outcome: 'ok' });
    if (needsRestart.length)
      deps.log.warn({ sections: needsRestart }, `controller.json: ${needsRestart.join(', ')} changed; these take effect at the next restart`);
    deps.log.info({ applied }, applied.length ? `controller.json reloaded: ${applied.join(', ')}` : 'controller.json reloaded: nothing to change');
    return { ok: true, applied, needsRestart };
  }
}
