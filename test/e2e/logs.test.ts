import { appendFileSync, cpSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../helpers/fleet.js';
import { stopAll, waitFor } from '../helpers/procs.js';

interface Alert {
  rule: string;
  host: string;
  state: string;
  summary: string;
}

const LAST = 'FATAL payment gateway unreachable (order 4711)';

/**
 * An application's log, followed by a real agent, pages through a real controller: errors
 * appended to the file fire the shipped rule services/app-errors, whose summary quotes the last
 * matching line. A second rule fires only when the fact's lastLine is exactly the last line
 * written (and the total exactly the lines appended): the line reaches the controller intact and
 * its summary, rendered from that sample, carries it whole.
 */
describe('log patterns, end to end', () => {
  const fleet = new Fleet();
  const log = join(fleet.dir, 'app.log');

  beforeAll(async () => {
    mkdirSync(join(fleet.rulesDir, 'services'), { recursive: true });
    cpSync('rules/services/app-errors.json', join(fleet.rulesDir, 'services', 'app-errors.json'));
    fleet.rule('e2e', 'app-last-line', {
      // Exactly the 12 lines appended: none of the old ones, none counted twice across the rotation.
      when: {
        all: [
          { fact: 'log', path: "$['app-errors'].lastLine", operator: 'equal', value: LAST },
          { fact: 'log', path: "$['app-errors'].total", operator: 'equal', value: 12 },
        ],
      },
      severity: 'info',
      summary: "last: {{facts.log['app-errors'].lastLine}}",
    });
    await fleet.startController();
    // Old errors, written before the agent started: it starts at the end, so they never count.
    writeFileSync(log, 'ERROR old\n'.repeat(50));
    fleet.startAgent('app-1', { logs: [{ name: 'app-errors', file: log, match: 'ERROR|FATAL', window: '1m' }] });
    await fleet.hostConnected('app-1');
  });

  afterAll(async () => {
    await stopAll();
    await fleet.cleanup();
  });

  it('fires the shipped rule when errors are appended, and the last line reaches the controller', async () => {
    // Rotated first (rename and create, as logrotate does): the agent reads the new file from its beginning.
    renameSync(log, `${log}.1`);
    writeFileSync(log, 'INFO started\n');
    for (let i = 0; i < 11; i++) appendFileSync(log, `2026-12-05T09:00:${String(i).padStart(2, '0')}Z ERROR db timeout ${i}\nINFO retrying\n`);
    appendFileSync(log, `${LAST}\n`);
    const firing = await waitFor(
      'both log alerts firing',
      async () => {
        const alerts = (await fleet.api<Alert[]>('/api/v1/alerts?state=firing')).filter((a) => a.host === 'app-1');
        return alerts.length === 2 ? alerts : undefined;
      },
      20_000,
      100,
    );
    expect(firing.map((a) => a.rule).sort()).toEqual(['e2e/app-last-line', 'services/app-errors']);
    expect(firing.find((a) => a.rule === 'e2e/app-last-line')!.summary).toBe(`last: ${LAST}`);
    // The shipped rule fires on the first sample counting more than 10: its last line is one of those written.
    const written = [...Array.from({ length: 11 }, (_, i) => `2026-12-05T09:00:${String(i).padStart(2, '0')}Z ERROR db timeout ${i}`), LAST];
    const shipped = firing.find((a) => a.rule === 'services/app-errors')!.summary;
    expect(written.map((l) => `more than 10 errors in the app log on app-1: ${l}`)).toContain(shipped);
  }, 40_000);
});
