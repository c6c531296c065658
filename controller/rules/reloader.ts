import { watch, type FSWatcher } from 'node:fs';
import { errorMessage, type Logger } from '../../protocol/index.js';
import type { Metrics } from '../metrics.js';
import { formatRuleError, loadRules, type RuleError } from './load.js';
import type { Rule } from './schema.js';

export interface ReloadOutcome {
  ok: boolean;
  rules: number;
  errors: RuleError[];
}

/**
 * Loads the rules dir as a whole and hands the rules on only when every file is valid: one bad
 * file keeps the previous rules (and says where each fault is), never a half-loaded set.
 */
export class RuleReloader {
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      dir: string;
      receivers: ReadonlySet<string>;
      /** How many rules are in force now (kept on a failed reload). */
      current: () => number;
      apply: (rules: Rule[]) => void;
      metrics: Metrics;
      log: Logger;
    },
  ) {}

  reload(): ReloadOutcome {
    const { log, metrics } = this.deps;
    const loaded = loadRules([this.deps.dir], { receivers: this.deps.receivers });
    const current = this.deps.current();
    if (loaded.errors.length) {
      metrics.rulesReloads.inc({ outcome: 'failed' });
      for (const e of loaded.errors) log.error({ code: e.code, file: e.file, pointer: e.pointer }, formatRuleError(e));
      log.error(`rules reload failed (${loaded.errors.length} error${loaded.errors.length > 1 ? 's' : ''}); keeping the previous ${current} rules`);
      return { ok: false, rules: current, errors: loaded.errors };
    }
    this.deps.apply(loaded.rules);
    metrics.rulesReloads.inc({ outcome: 'ok' });
    log.info({ rules: loaded.rules.length, files: loaded.files }, 'rules loaded');
    return { ok: true, rules: loaded.rules.length, errors: [] };
  }

  /** Reloads 300 ms after the last change under the dir; where watching fails, SIGHUP and the API still reload. */
  watch(): void {
    const { log } = this.deps;
    try {
      this.watcher = watch(this.deps.dir, { recursive: true }, () => {
        clearTimeout(this.debounce);
        this.debounce = setTimeout(() => void this.reload(), 300);
      });
      this.watcher.on('error', (e) => log.warn({ err: errorMessage(e) }, 'rules dir watch failed; reload with SIGHUP or POST /api/v1/rules/reload'));
    } catch (e) {
      log.warn({ err: errorMessage(e) }, 'cannot watch the rules dir; reload with SIGHUP or POST /api/v1/rules/reload');
    }
  }

  stop(): void {
    clearTimeout(this.debounce);
    this.watcher?.close();
  }
}
