import { errorMessage, type Logger } from '../../protocol/index.js';
import type { ControllerConfig } from '../config.js';
import { restoreWindows } from '../rules/windows/persist.js';
import type { Windows } from '../rules/windows/store.js';
import { rebuildWindows } from './rebuild.js';

/**
 * At start, after the rules loaded: the windows come back from the snapshot the last stop wrote,
 * then what it lacks (a first start, a crash, a rule added since) from Prometheus when
 * controller.json names one. Neither can stop the controller from starting: a failure is logged,
 * and those windows fill from samples as they would without.
 */
export async function loadWindows(
  windows: Windows,
  opts: { file: string; history: ControllerConfig['history']; now: number; log: Logger },
): Promise<{ snapshot: number; prometheus: number }> {
  const { log } = opts;
  if (windows.retained.size === 0) return { snapshot: 0, prometheus: 0 };
  const restored = restoreWindows(windows, opts.file, log);
  let rebuilt = 0;
  if (opts.history) {
    const { prometheus, source, timeoutMs } = opts.history;
    try {
      const out = await rebuildWindows(windows, { url: prometheus, source, now: opts.now, timeoutMs });
      rebuilt = out.series;
      if (out.unmapped.length)
        log.info({ paths: out.unmapped }, 'windowed paths with no Prometheus series fill from samples (docs/backtest.md lists what maps)');
      log.info({ prometheus, series: out.series, points: out.points }, 'windows rebuilt from Prometheus');
    } catch (e) {
      log.warn(
        { prometheus, err: errorMessage(e) },
        'windows not rebuilt from Prometheus: windowed rules wait for their windows to fill; check "history" in controller.json',
      );
    }
  }
  if (restored.series) log.info({ series: restored.series, savedAt: new Date(restored.savedAt!).toISOString() }, 'windows restored from the last stop');
  return { snapshot: restored.series, prometheus: rebuilt };
}
