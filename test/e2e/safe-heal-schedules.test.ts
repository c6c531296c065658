import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../helpers/fleet.js';
import { metricValue, metrics, orderIn, orders, type HealView } from '../helpers/heal.js';
import { stopAll, waitFor, type Proc } from '../helpers/procs.js';

interface Host {
  id: string;
  connected: boolean;
}

const HOST = 'ops-1';
/** A cron that does not fire while the tests run: these rules are run with "run now". */
const NEVER = '0 0 1 1 *';
const DAY = 86_400_000;

/**
 * Scheduled rules and disk.cleanup with real processes: a schedule that selects nobody runs
 * nothing, one that selects the agent runs its script on time (and on demand), and
 * disk.cleanup deletes only old matching files, and only under the agent's cleanupRoots.
 */
describe('safe healing: schedules and disk.cleanup', () => {
  const fleet = new Fleet();
  let agent: Proc;
  const mark = join(fleet.dir, 'mark.txt');
  const markNow = join(fleet.dir, 'mark-now.txt');
  const root = join(fleet.dir, 'cleanable');
  const outside = join(fleet.dir, 'outside');
  const old = Date.now() - 3 * DAY;
  const files: Record<string, { path: string; old: boolean; bytes: number }> = {};

  /** Writes a file under `dir`, its mtime set back three days when `isOld`. */
  const file = (dir: string, rel: string, isOld: boolean, bytes = 100) => {
    const path = join(dir, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, 'x'.repeat(bytes));
    if (isOld) utimesSync(path, old / 1000, old / 1000);
    files[`${dir === root ? 'root' : 'outside'}:${rel}`] = { path, old: isOld, bytes };
  };
  const runNow = async (rule: string) => {
    const [ns, name] = rule.split('/');
    const res = await fleet.fetch(`/api/v1/rules/${ns}/${name}/run`, { method: 'POST' });
    return { status: res.status, body: await res.json() };
  };
  /** Runs a scheduled rule now and returns its (single) work order once final. */
  const runOnce = async (rule: string): Promise<HealView> => {
    expect(await runNow(rule)).toEqual({ status: 200, body: { hosts: [HOST] } });
    const [order] = await waitFor(`a work order of ${rule}`, async () => {
      const l = await orders(fleet, rule);
      return l.length > 0 && l;
    });
    return orderIn(fleet, order.id);
  };

  beforeAll(async () => {
    file(root, 'app.log', true, 100);
    file(root, 'sub/worker.log', true, 250);
    file(root, 'sub/deeper/db.log', true, 50);
    file(root, 'today.log', false, 70);
    file(root, 'notes.txt', true, 30);
    file(outside, 'old.log', true, 40);

    fleet.rule('sched', 'nobody', {
      schedule: '*/1 * * * * *',
      hosts: { role: 'nobody' },
      heal: { action: 'script.run', params: { name: 'mark' } },
    });
    fleet.rule('sched', 'mark', {
      schedule: '*/2 * * * * *',
      hosts: { role: 'ops' },
      heal: { action: 'script.run', params: { name: 'mark' }, maxPerHour: 2 },
    });
    fleet.rule('sched', 'mark-now', {
      schedule: NEVER,
      hosts: { role: 'ops' },
      heal: { action: 'script.run', params: { name: 'mark-now' } },
    });
    fleet.rule('cleanup', 'outside', {
      schedule: NEVER,
      hosts: { role: 'ops' },
      heal: { action: 'disk.cleanup', params: { path: outside, olderThan: '1d' } },
    });
    fleet.rule('cleanup', 'dry', {
      schedule: NEVER,
      hosts: { role: 'ops' },
      heal: { action: 'disk.cleanup', params: { path: root, olderThan: '1d', pattern: '*.log', dryRun: true } },
    });
    fleet.rule('cleanup', 'logs', {
      schedule: NEVER,
      hosts: { role: 'ops' },
      heal: { action: 'disk.cleanup', params: { path: root, olderThan: '1d', pattern: '*.log' } },
    });
    await fleet.startController();
    const append = (f: string) => [process.execPath, '-e', `require('fs').appendFileSync(${JSON.stringify(f)}, 'x')`];
    agent = fleet.startAgent(HOST, { labels: { role: 'ops' }, scripts: { mark: append(mark), 'mark-now': append(markNow) }, cleanupRoots: [root] });
    await waitFor(`agent ${HOST} connected`, async () => {
      if (agent.child.exitCode !== null) throw new Error(`agent exited ${agent.child.exitCode}: ${agent.stderr()}`);
      return (await fleet.api<Host[]>('/api/v1/hosts')).find((h) => h.id === HOST && h.connected);
    });
  });

  afterAll(async () => {
    await stopAll();
    await fleet.cleanup();
  });

  it('a schedule whose selector matches no host runs nothing, and says so in /metrics', async () => {
    // It fires every second; give it three.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await orders(fleet, 'sched/nobody')).toEqual([]);
    expect(metricValue(await metrics(fleet), 'laas_schedule_runs_total{rule="sched/nobody",outcome="no-hosts"}')).toBeGreaterThanOrEqual(2);
    expect(metricValue(await metrics(fleet), 'laas_schedule_runs_total{rule="sched/nobody",outcome="started"}')).toBeUndefined();
    expect(await runNow('sched/nobody')).toEqual({ status: 200, body: { hosts: [] } });
  });

  it('a schedule that selects the agent runs its script on time, under the same brakes as heals', async () => {
    const rule = 'sched/mark';
    // Every two seconds; maxPerHour 2 lets two runs through and stops the rest.
    const done = await waitFor(
      'two scheduled runs to succeed',
      async () => {
        const list = (await orders(fleet, rule)).filter((h) => h.state === 'succeeded');
        return list.length >= 2 && list;
      },
      10_000,
    );
    expect(done).toHaveLength(2);
    for (const o of done) {
      expect(o).toMatchObject({
        host: HOST,
        trigger: 'schedule',
        alertId: null,
        action: 'script.run',
        params: { name: 'mark' },
        reason: 'all 1 step succeeded',
      });
      expect(o.steps.map((s) => s.state)).toEqual(['succeeded']);
      expect(o.history[0]).toMatchObject({ state: 'requested', note: `schedule "*/2 * * * * *" of ${rule}` });
    }
    expect(readFileSync(mark, 'utf8')).toBe('xx');
    const third = await waitFor('the third run to meet maxPerHour', async () => (await orders(fleet, rule)).find((h) => h.state === 'skipped'), 5000);
    expect(third.reason).toMatch(new RegExp(`^maxPerHour 2 reached for ${rule} on ${HOST} \\(2 in the last hour\\)`));
    expect(readFileSync(mark, 'utf8')).toBe('xx');
    expect(metricValue(await metrics(fleet), `laas_schedule_runs_total{rule="${rule}",outcome="started"}`)).toBeGreaterThanOrEqual(3);
  });

  it('"run now" (POST /api/v1/rules/{ns}/{name}/run) runs a scheduled rule at once', async () => {
    const order = await runOnce('sched/mark-now');
    expect(order).toMatchObject({ state: 'succeeded', trigger: 'schedule', host: HOST, reason: 'all 1 step succeeded' });
    expect(order.steps[0].result).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
    expect(readFileSync(markNow, 'utf8')).toBe('x');
    expect(metricValue(await metrics(fleet), 'laas_schedule_runs_total{rule="sched/mark-now",outcome="started"}')).toBe(1);
    const notScheduled = await fleet.fetch('/api/v1/rules/sched/nope/run', { method: 'POST' });
    expect(notScheduled.status).toBe(404);
  });

  it("disk.cleanup outside the agent's cleanupRoots is refused (ACTION_NOT_ALLOWED) and touches nothing", async () => {
    const order = await runOnce('cleanup/outside');
    expect(order.state).toBe('failed');
    expect(order.reason).toContain('ACTION_NOT_ALLOWED');
    expect(order.reason).toContain(`${outside} is not under a cleanup root of this agent (${root})`);
    expect(order.steps[0].result).toMatchObject({ outcome: 'refused', error: { code: 'ACTION_NOT_ALLOWED' } });
    expect(existsSync(files['outside:old.log'].path)).toBe(true);
  });

  it('disk.cleanup with dryRun counts what it would delete and deletes nothing', async () => {
    const order = await runOnce('cleanup/dry');
    expect(order.state).toBe('succeeded');
    expect(JSON.parse(order.steps[0].result!.stdout)).toEqual({ matched: 3, deleted: 0, bytes: 400, dryRun: true, errors: 0 });
    for (const f of Object.values(files)) expect(existsSync(f.path)).toBe(true);
  });

  it('disk.cleanup under a root deletes the old files matching the pattern, and keeps the rest', async () => {
    const order = await runOnce('cleanup/logs');
    expect(order).toMatchObject({ state: 'succeeded', trigger: 'schedule', action: 'disk.cleanup' });
    expect(JSON.parse(order.steps[0].result!.stdout)).toEqual({ matched: 3, deleted: 3, bytes: 400, dryRun: false, errors: 0 });
    const left = Object.entries(files)
      .filter(([, f]) => existsSync(f.path))
      .map(([k]) => k)
      .sort();
    expect(left).toEqual(['outside:old.log', 'root:notes.txt', 'root:today.log']);
    // Directories stay, even when emptied.
    expect(existsSync(join(root, 'sub/deeper'))).toBe(true);
  });
});
