import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { childEnv } from '../../../../agent/child-env.js';
import type { CheckConfig } from '../../../../agent/sources/checks/config.js';
import type { CheckFact } from '../../../../agent/sources/checks/run.js';
import { CheckSource } from '../../../../agent/sources/checks/source.js';
import { createLogger } from '../../../../protocol/index.js';

const log = createLogger('test', 'silent');
const dir = mkdtempSync(join(tmpdir(), 'laas-checks-source-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const checkOf = (name: string, intervalMs = 1000): CheckConfig => ({ name, command: ['/bin/true'], intervalMs, timeoutMs: 1000 });
const fact = (status: 0 | 1 | 2 | 3): CheckFact => ({
  status,
  state: (['ok', 'warning', 'critical', 'unknown'] as const)[status],
  output: 'x',
  perf: {},
  durationMs: 1,
  at: 1,
});

async function until(what: string, ok: () => boolean, limitMs = 10_000): Promise<void> {
  for (let waited = 0; !ok(); waited += 20) {
    if (waited > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('check source', () => {
  it('runs at most 4 plugins at once; the others wait their turn', async () => {
    let running = 0;
    let most = 0;
    const done = new Set<string>();
    const releases: (() => void)[] = [];
    const source = new CheckSource({
      checks: Array.from({ length: 10 }, (_, i) => checkOf(`c${i}`, 60_000)),
      env: {},
      log,
      changed: () => {},
      random: () => 0,
      run: async (c) => {
        running++;
        most = Math.max(most, running);
        await new Promise<void>((r) => releases.push(r));
        running--;
        done.add(c.name);
        return fact(0);
      },
    });
    source.start();
    for (let round = 0; done.size < 10 && round < 50; round++) {
      await until('a check to start', () => releases.length > 0);
      releases.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    expect(done.size).toBe(10);
    expect(most).toBe(4);
    expect(Object.keys(source.snapshot() ?? {})).toHaveLength(10);
    await source.stop();
  });

  it('asks for a sample when a state changes (and for a first result that is not ok), once per change', async () => {
    const results: Record<string, (0 | 1 | 2 | 3)[]> = { web: [0, 0, 2, 2, 0], disk: [1, 1, 1, 1, 1] };
    const runs: Record<string, number> = { web: 0, disk: 0 };
    const changes: string[] = [];
    const source = new CheckSource({
      checks: [checkOf('web', 1000), checkOf('disk', 1000)],
      env: {},
      log,
      random: () => 0,
      changed: () => changes.push(`${source.snapshot()?.web?.state ?? '-'}/${source.snapshot()?.disk?.state ?? '-'}`),
      run: async (c) => fact(results[c.name][Math.min(runs[c.name]++, 4)]),
    });
    // The interval is the config's floor, 1s: five rounds take about four seconds.
    source.start();
    await until('five runs of each', () => runs.web >= 5 && runs.disk >= 5);
    // The source asks for the sample on the next turn (setImmediate), and asks nothing once
    // stopped: let a change recorded in the same turn as the wait ending reach `changed` first.
    await new Promise((r) => setImmediate(r));
    await source.stop();
    // disk's first result (warning) and web's two changes; disk staying warning asks for nothing more.
    expect(changes.length).toBe(3);
    expect(changes[1]).toBe('critical/warning');
    expect(changes[2]).toBe('ok/warning');
  });

  it('stop() kills the plugins still running and records nothing after', async () => {
    const pidFile = join(dir, 'plugin.pid');
    const plugin = join(dir, 'slow');
    writeFileSync(plugin, `#!/bin/sh\necho $$ > ${pidFile}\nexec sleep 1000\n`);
    chmodSync(plugin, 0o755);
    const source = new CheckSource({
      checks: [{ name: 'slow', command: [plugin], intervalMs: 60_000, timeoutMs: 600_000 }],
      env: childEnv(process.env),
      log,
      changed: () => {},
      random: () => 0,
    });
    source.start();
    let pid = 0;
    await until('the plugin to start', () => {
      try {
        pid = Number(readFileSync(pidFile, 'utf8'));
      } catch {
        /* not yet */
      }
      return pid > 1;
    });
    await source.stop();
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await until('the plugin to be killed', () => !alive());
    expect(source.snapshot()).toBeUndefined();
  });
});
