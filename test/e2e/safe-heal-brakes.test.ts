import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../helpers/fleet.js';
import { metricValue, metrics, newOrder, orderIn, resolvedAlerts, serviceIs, webhooks, type HealView } from '../helpers/heal.js';
import { laasRun, logLines, stopAll, tcpAnswers, waitFor, type Proc } from '../helpers/procs.js';
import { startReceiver } from '../helpers/receiver.js';

type Service = Awaited<ReturnType<Fleet['service']>>;
interface Host {
  id: string;
  connected: boolean;
}
interface Breaker {
  rule: string;
  host: string;
  state: string;
  openedAt: string | null;
  recentFailures: number;
  closesAt: string | null;
}

const HOST = 'app-1';
const serviceDown = (svc: string) => ({ all: [{ fact: 'service', path: `$.${svc}.up`, operator: 'equal', value: false }] });

/**
 * Safe healing with real processes: one controller, one agent watching a service per story,
 * a webhook receiver. Each story kills its own service and follows the work order: a ladder
 * that verifies each step, a circuit breaker, approvals, shadow mode and a fleet-wide pause.
 */
describe('safe healing: ladders, breakers, approvals, shadow mode, pause', () => {
  const fleet = new Fleet();
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let agent: Proc;
  const svc: Record<'ladder' | 'brk' | 'appr' | 'apex' | 'shd' | 'paus', Service> = {} as never;
  const seen = new Set<string>();
  const url = () => ['--url', fleet.url];

  /** Instructions the agent started for a work order (its log line "running instruction"). */
  const ranFor = (orderId: string) => logLines(agent.stderr()).filter((l) => l.msg === 'running instruction' && String(l.id).startsWith(`${orderId}.`));
  /** Starts a service again the way its init script would (not through laas). */
  const startByHand = async (s: Service) => {
    const r = await laasRun(s.restart.slice(2));
    expect(r.code).toBe(0);
  };

  beforeAll(async () => {
    receiver = await startReceiver();
    svc.ladder = await fleet.service('ladder');
    svc.brk = await fleet.service('brk');
    svc.appr = await fleet.service('appr');
    svc.apex = await fleet.service('apex');
    svc.shd = await fleet.service('shd');
    svc.paus = await fleet.service('paus');

    fleet.rule('ladder', 'ladder-down', {
      hosts: { role: 'app' },
      when: serviceDown('ladder'),
      severity: 'critical',
      notify: ['ops'],
      heal: {
        steps: [
          { action: 'script.run', params: { name: 'noop' } },
          { action: 'service.restart', params: { service: 'ladder' } },
        ],
        verifyWithin: '2s',
      },
    });
    fleet.rule('breaker', 'brk-down', {
      hosts: { role: 'app' },
      when: serviceDown('brk'),
      severity: 'critical',
      notify: ['ops'],
      heal: { action: 'service.restart', params: { service: 'brk' }, maxPerHour: 10, breaker: { failures: 2, resetAfter: '1h' } },
      // Six faults in a minute would count as flapping and hold the alert firing; this story is about the breaker.
      flap: { changes: 100 },
    });
    fleet.rule('approve', 'appr-down', {
      hosts: { role: 'app' },
      when: serviceDown('appr'),
      notify: ['ops'],
      heal: { action: 'service.restart', params: { service: 'appr' }, approval: 'required' },
    });
    fleet.rule('approve', 'apex-down', {
      hosts: { role: 'app' },
      when: serviceDown('apex'),
      notify: ['ops'],
      heal: { action: 'service.restart', params: { service: 'apex' }, approval: 'required', approvalTimeout: '2s' },
    });
    fleet.writeRaw('rules/shadowed/_namespace.json', JSON.stringify({ mode: 'shadow' }));
    fleet.rule('shadowed', 'shd-down', {
      hosts: { role: 'app' },
      when: serviceDown('shd'),
      notify: ['ops'],
      heal: { action: 'service.restart', params: { service: 'shd' } },
    });
    fleet.rule('paused', 'paus-down', {
      hosts: { role: 'app' },
      when: serviceDown('paus'),
      notify: ['ops'],
      heal: { action: 'service.restart', params: { service: 'paus' } },
    });
    await fleet.startController({ receivers: { ops: { type: 'webhook', url: receiver.url } } });

    const watched = (name: keyof typeof svc, restart = svc[name].restart) => ({
      name,
      probe: { tcp: `127.0.0.1:${svc[name].port}` },
      probeInterval: '250ms',
      restart,
    });
    agent = fleet.startAgent(HOST, {
      labels: { role: 'app' },
      services: [
        watched('ladder'),
        // The breaker story's restart command always fails.
        watched('brk', [process.execPath, '-e', 'process.exit(3)']),
        watched('appr'),
        watched('apex'),
        watched('shd'),
        watched('paus'),
      ],
      // Exits 0 and fixes nothing: the ladder's first step "succeeds" without clearing the fault.
      scripts: { noop: [process.execPath, '-e', 'process.exit(0)'] },
    });
    await waitFor(`agent ${HOST} connected`, async () => {
      if (agent.child.exitCode !== null) throw new Error(`agent exited ${agent.child.exitCode}: ${agent.stderr()}`);
      return (await fleet.api<Host[]>('/api/v1/hosts')).find((h) => h.id === HOST && h.connected);
    });
  });

  afterAll(async () => {
    await stopAll();
    await receiver?.close();
    await fleet.cleanup();
  });

  it('climbs the ladder: a step that exits 0 but fixes nothing is verified, found wanting, and the next step heals', async () => {
    const oldPid = svc.ladder.pid();
    process.kill(oldPid, 'SIGKILL');
    const first = await newOrder(fleet, 'ladder/ladder-down', seen);
    expect(first).toMatchObject({ host: HOST, trigger: 'alert', mode: 'enforce', action: 'script.run', params: { name: 'noop' } });

    const order = await orderIn(fleet, first.id, ['succeeded', 'failed', 'timed-out', 'skipped'], 20_000);
    expect(order.state).toBe('succeeded');
    expect(order.steps.map((s) => [s.action, s.state])).toEqual([
      ['script.run', 'succeeded'],
      ['service.restart', 'succeeded'],
    ]);
    expect(order.steps.map((s) => s.result?.exitCode)).toEqual([0, 0]);
    expect(order.reason).toMatch(/after step 2 \(service\.restart/);
    await serviceIs(svc.ladder.port, true);
    expect(svc.ladder.pid()).not.toBe(oldPid);

    // The story: step 1 ran and succeeded, the condition was watched for 2 s, still held, then step 2.
    const next = order.history.filter((e) => e.state === 'next-step');
    expect(next).toHaveLength(1);
    expect(next[0].note).toBe('the condition still held 2s after step 1 (script.run) succeeded; trying step 2');
    const story = order.history.map((e) => e.state);
    const at = (state: string, from = 0) => story.indexOf(state, from);
    expect(at('verifying')).toBeGreaterThan(at('result'));
    expect(at('next-step')).toBeGreaterThan(at('verifying'));
    expect(at('dispatched', at('next-step'))).toBeGreaterThan(at('next-step'));
    expect(story.at(-1)).toBe('succeeded');
    // The wait between the steps was the verification window, not less.
    const step1Done = Date.parse(order.steps[0].finishedAt!);
    expect(Date.parse(order.steps[1].dispatchedAt!) - step1Done).toBeGreaterThanOrEqual(1900);
    // Nobody was paged: the ladder did its job.
    expect(webhooks(receiver.received, 'laas-heal-escalation', order.id)).toEqual([]);
  });

  const brkRule = 'breaker/brk-down';
  /** Kills the breaker story's service and returns its work order once final. */
  const brkFault = async () => {
    process.kill(svc.brk.pid(), 'SIGKILL');
    const o = await newOrder(fleet, brkRule, seen);
    return orderIn(fleet, o.id, ['succeeded', 'failed', 'timed-out', 'skipped', 'rejected']);
  };
  let brkResolved = 0;
  /** Fixed by hand, like an operator would; the alert resolves before the fault comes back. */
  const brkFixByHand = async () => {
    await startByHand(svc.brk);
    await resolvedAlerts(fleet, brkRule, HOST, ++brkResolved);
  };

  it('opens a circuit breaker after two failed heals, and skips the third fault', async () => {
    const rule = brkRule;
    const failed: HealView[] = [];
    for (let i = 1; i <= 2; i++) {
      const order = await brkFault();
      expect(order.state).toBe('failed');
      expect(order.reason).toBe('step 1 (service.restart) failed (exit 3)');
      expect(order.steps[0]).toMatchObject({ state: 'failed', result: { outcome: 'failed', exitCode: 3 } });
      await waitFor(`the escalation of failed heal ${i}`, () => webhooks(receiver.received, 'laas-heal-escalation', order.id).length === 1);
      failed.push(order);
      await brkFixByHand();
    }
    const escalation = webhooks(receiver.received, 'laas-heal-escalation', failed[0].id)[0];
    expect(escalation).toMatchObject({ status: 'firing', receiver: 'ops' });
    expect(escalation.alerts[0].labels).toMatchObject({ alertname: 'laas-heal-escalation', rule, host: HOST, severity: 'critical' });
    expect(escalation.alerts[0].annotations.summary).toContain(`automatic heal failed for ${rule} on ${HOST}`);

    // The second failure opened the breaker.
    const opened = await fleet.api<HealView>(`/api/v1/heals/${failed[1].id}`);
    expect(opened.history.map((e) => e.state)).toContain('breaker-open');
    expect(opened.notifications.map((n) => [n.receiver, n.kind])).toEqual([
      ['ops', 'escalation'],
      ['ops', 'breaker-open'],
    ]);
    const page = await waitFor('the breaker-open webhook', () => webhooks(receiver.received, 'laas-heal-breaker-open')[0]);
    expect(page.alerts[0].labels).toMatchObject({ rule, host: HOST, severity: 'critical' });
    expect(page.alerts[0].annotations).toMatchObject({ workOrder: failed[1].id });
    expect(page.alerts[0].annotations.summary).toContain(`laas breakers reset ${rule} ${HOST}`);
    expect(webhooks(receiver.received, 'laas-heal-breaker-open', failed[0].id)).toEqual([]);
    const breakers = await fleet.api<Breaker[]>('/api/v1/breakers');
    expect(breakers).toEqual([expect.objectContaining({ rule, host: HOST, state: 'open', recentFailures: 2 })]);
    expect(Date.parse(breakers[0].closesAt!) - Date.parse(breakers[0].openedAt!)).toBeGreaterThanOrEqual(3_600_000);
    expect(metricValue(await metrics(fleet), 'laas_heal_breakers_open')).toBe(1);
    const listed = await laasRun(['breakers', '--json', ...url()]);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual(breakers);

    // Third fault: nothing runs.
    const skipped = await brkFault();
    expect(skipped.state).toBe('skipped');
    expect(skipped.reason).toMatch(
      new RegExp(
        `^circuit breaker open for ${rule} on ${HOST} since \\S+; it closes after 3600s without the fault, or reset it: laas breakers reset ${rule} ${HOST}$`,
      ),
    );
    expect(skipped.dispatchedAt).toBeNull();
    expect(skipped.steps[0].state).toBe('pending');
    expect(ranFor(skipped.id)).toEqual([]);
    expect(await tcpAnswers(svc.brk.port)).toBe(false);
    expect(metricValue(await metrics(fleet), `laas_heal_skipped_total{rule="${rule}",reason="breaker"}`)).toBe(1);
    await brkFixByHand();
  });

  it('an operator resets the breaker (POST /api/v1/breakers/reset) and the next fault is dispatched again', async () => {
    const rule = brkRule;
    const res = await fleet.fetch('/api/v1/breakers/reset', { method: 'POST', body: JSON.stringify({ rule, host: HOST }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ reset: true, rule, host: HOST });
    expect((await fleet.api<Breaker[]>('/api/v1/breakers')).filter((b) => b.state === 'open')).toEqual([]);
    expect(metricValue(await metrics(fleet), 'laas_heal_breakers_open')).toBe(0);
    const again = await fleet.fetch('/api/v1/breakers/reset', { method: 'POST', body: JSON.stringify({ rule, host: HOST }) });
    expect(again.status).toBe(404);

    const fourth = await brkFault();
    expect(fourth.history.map((e) => e.state)).toContain('dispatched');
    expect(fourth.dispatchedAt).not.toBeNull();
    expect(fourth).toMatchObject({ state: 'failed', reason: 'step 1 (service.restart) failed (exit 3)' });
    expect(ranFor(fourth.id)).toHaveLength(1);
    expect(await fleet.api<Breaker[]>('/api/v1/breakers')).toEqual([expect.objectContaining({ rule, host: HOST, state: 'closed', recentFailures: 1 })]);
    await brkFixByHand();
  });

  it('"laas breakers reset RULE HOST --url" closes an open breaker', async () => {
    const rule = brkRule;
    // One failure is on record since the last reset; one more opens the breaker again.
    const failed = await brkFault();
    expect(failed.state).toBe('failed');
    await brkFixByHand();
    expect(await fleet.api<Breaker[]>('/api/v1/breakers')).toEqual([expect.objectContaining({ rule, host: HOST, state: 'open' })]);
    const reset = await laasRun(['breakers', 'reset', rule, HOST, ...url()]);
    expect(reset).toMatchObject({ code: 0, stdout: `circuit breaker for ${rule} on ${HOST} reset\n` });
    expect((await fleet.api<Breaker[]>('/api/v1/breakers')).filter((b) => b.state === 'open')).toEqual([]);
    const again = await laasRun(['breakers', 'reset', rule, HOST, ...url()]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('API_NOT_FOUND');
  });

  it('waits for approval: nothing runs until "laas approve", then it heals and records who approved', async () => {
    const rule = 'approve/appr-down';
    process.kill(svc.appr.pid(), 'SIGKILL');
    const waiting = await orderIn(fleet, (await newOrder(fleet, rule, seen)).id, ['awaiting-approval', 'dispatched', 'succeeded', 'failed', 'skipped']);
    expect(waiting.state).toBe('awaiting-approval');
    expect(waiting.approval).toMatchObject({ decision: null, by: null });
    expect(Date.parse(waiting.approval!.expiresAt) - Date.parse(waiting.createdAt)).toBe(3_600_000);
    expect(waiting.dispatchedAt).toBeNull();
    const ask = await waitFor('the approval-needed webhook', () => webhooks(receiver.received, 'laas-heal-approval-needed', waiting.id)[0]);
    expect(ask.alerts[0].labels).toMatchObject({ rule, host: HOST, severity: 'info' });
    expect(ask.alerts[0].annotations.summary).toContain(`laas approve ${waiting.id}`);
    expect(metricValue(await metrics(fleet), 'laas_heal_approvals_pending')).toBe(1);

    // A few probe periods later the service is still down and the order still waits.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await tcpAnswers(svc.appr.port)).toBe(false);
    expect((await fleet.api<HealView>(`/api/v1/heals/${waiting.id}`)).state).toBe('awaiting-approval');
    expect(ranFor(waiting.id)).toEqual([]);

    const approved = await laasRun(['approve', waiting.id, '--comment', 'ok', ...url()]);
    expect(approved).toMatchObject({ code: 0, stdout: `work order ${waiting.id}: dispatched — approved by anonymous\n` });
    await serviceIs(svc.appr.port, true);
    const done = await orderIn(fleet, waiting.id);
    expect(done.state).toBe('succeeded');
    expect(done.approval).toMatchObject({ decision: 'approved', by: 'anonymous', comment: 'ok' });
    expect(done.history.find((e) => e.state === 'approved')?.note).toBe('approved by anonymous: ok');
    expect(ranFor(waiting.id)).toHaveLength(1);
    expect(metricValue(await metrics(fleet), 'laas_heal_approvals_pending')).toBe(0);
    const story = await laasRun(['heals', waiting.id, ...url()]);
    expect(story.stdout.split('\n')[0]).toBe(`work order ${waiting.id}: succeeded`);
    expect(story.stdout).toContain('approval: approved by anonymous');
    await resolvedAlerts(fleet, rule, HOST, 1);
  });

  it('"laas reject" ends a waiting work order as rejected, and nothing runs', async () => {
    const rule = 'approve/appr-down';
    process.kill(svc.appr.pid(), 'SIGKILL');
    const waiting = await orderIn(fleet, (await newOrder(fleet, rule, seen)).id, ['awaiting-approval', 'dispatched', 'succeeded', 'failed', 'skipped']);
    expect(waiting.state).toBe('awaiting-approval');
    const rejected = await laasRun(['reject', waiting.id, '--comment', 'not now', ...url()]);
    expect(rejected).toMatchObject({ code: 0, stdout: `work order ${waiting.id}: rejected — rejected by anonymous: not now\n` });
    const order = await fleet.api<HealView>(`/api/v1/heals/${waiting.id}`);
    expect(order).toMatchObject({ state: 'rejected', reason: 'rejected by anonymous: not now', dispatchedAt: null });
    expect(order.approval).toMatchObject({ decision: 'rejected', by: 'anonymous', comment: 'not now' });
    expect(order.steps[0].state).toBe('pending');
    // Deciding twice is refused.
    const twice = await laasRun(['approve', waiting.id, ...url()]);
    expect(twice.code).toBe(1);
    await new Promise((r) => setTimeout(r, 750));
    expect(ranFor(waiting.id)).toEqual([]);
    expect(await tcpAnswers(svc.appr.port)).toBe(false);
    await startByHand(svc.appr);
    await resolvedAlerts(fleet, rule, HOST, 2);
  });

  it('an approval nobody gives expires after approvalTimeout: rejected, decision "expired", nothing ran', async () => {
    const rule = 'approve/apex-down';
    process.kill(svc.apex.pid(), 'SIGKILL');
    const waiting = await orderIn(fleet, (await newOrder(fleet, rule, seen)).id, ['awaiting-approval', 'dispatched', 'succeeded', 'failed', 'skipped']);
    expect(waiting.state).toBe('awaiting-approval');
    expect(Date.parse(waiting.approval!.expiresAt) - Date.parse(waiting.createdAt)).toBe(2000);
    const expired = await orderIn(fleet, waiting.id, ['rejected', 'dispatched', 'succeeded', 'failed', 'skipped'], 10_000);
    expect(expired.state).toBe('rejected');
    expect(expired.approval).toMatchObject({ decision: 'expired', by: null });
    expect(expired.reason).toBe(`approval expired at ${waiting.approval!.expiresAt} with no decision`);
    expect(Date.parse(expired.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(waiting.approval!.expiresAt));
    expect(ranFor(waiting.id)).toEqual([]);
    expect(await tcpAnswers(svc.apex.port)).toBe(false);
    await startByHand(svc.apex);
    await resolvedAlerts(fleet, rule, HOST, 1);
  });

  it('shadow mode (from _namespace.json) alerts and records what it would run, without running it', async () => {
    const rule = 'shadowed/shd-down';
    expect((await fleet.api<{ id: string; mode: string }[]>('/api/v1/rules')).find((r) => r.id === rule)?.mode).toBe('shadow');
    process.kill(svc.shd.pid(), 'SIGKILL');
    const order = await orderIn(fleet, (await newOrder(fleet, rule, seen)).id);
    expect(order).toMatchObject({ state: 'shadow', mode: 'shadow', dispatchedAt: null });
    expect(order.reason).toBe(`shadow mode: would run service.restart {"service":"shd"} on ${HOST}`);
    const alert = (await fleet.api<{ rule: string; host: string; state: string; heals: string[] }[]>('/api/v1/alerts?state=firing')).find(
      (a) => a.rule === rule,
    );
    expect(alert).toMatchObject({ host: HOST, heals: [order.id] });
    await waitFor('the firing webhook', () =>
      receiver.received.some((r) => (r.body as { alerts?: { labels: Record<string, string> }[] }).alerts?.[0]?.labels.alertname === 'shd-down'),
    );

    // Several probe periods (250 ms) later it is still down: nothing restarted it.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await tcpAnswers(svc.shd.port)).toBe(false);
    expect(ranFor(order.id)).toEqual([]);
    expect(
      logLines(agent.stderr()).filter((l) => l.msg === 'running instruction' && (l.params as { service?: string } | undefined)?.service === 'shd'),
    ).toEqual([]);
    expect((await fleet.api<HealView[]>(`/api/v1/heals?rule=${rule}`)).map((h) => h.state)).toEqual(['shadow']);
    expect(metricValue(await metrics(fleet), `laas_heal_shadow_total{rule="${rule}"}`)).toBe(1);
    const story = await laasRun(['heals', order.id, ...url()]);
    expect(story.stdout.split('\n')[0]).toBe(`work order ${order.id}: shadow (shadow)`);
    await startByHand(svc.shd);
    await resolvedAlerts(fleet, rule, HOST, 1);
  });

  it('"laas pause" stops every automatic heal fleet-wide until "laas resume"', async () => {
    const rule = 'paused/paus-down';
    const paused = await laasRun(['pause', '--reason', 'maint', ...url()]);
    expect(paused).toMatchObject({ code: 0, stdout: 'automatic heals paused fleet-wide; resume with: laas resume\n' });
    expect(await fleet.api('/api/v1/pause')).toEqual({ paused: { by: 'anonymous', at: expect.any(String), reason: 'maint' } });
    expect(metricValue(await metrics(fleet), 'laas_heal_paused')).toBe(1);

    process.kill(svc.paus.pid(), 'SIGKILL');
    const skipped = await orderIn(fleet, (await newOrder(fleet, rule, seen)).id);
    expect(skipped.state).toBe('skipped');
    expect(skipped.reason).toMatch(/^heals are paused fleet-wide by anonymous since \S+ \(maint\); resume with: laas resume$/);
    expect(skipped.dispatchedAt).toBeNull();
    expect(ranFor(skipped.id)).toEqual([]);
    expect(metricValue(await metrics(fleet), `laas_heal_skipped_total{rule="${rule}",reason="paused"}`)).toBe(1);
    await new Promise((r) => setTimeout(r, 750));
    expect(await tcpAnswers(svc.paus.port)).toBe(false);

    const resumed = await laasRun(['resume', ...url()]);
    expect(resumed).toMatchObject({ code: 0, stdout: 'automatic heals resumed\n' });
    expect(await fleet.api('/api/v1/pause')).toEqual({ paused: null });
    expect(metricValue(await metrics(fleet), 'laas_heal_paused')).toBe(0);

    // The fault goes away and comes back: this time laas heals it.
    await startByHand(svc.paus);
    await resolvedAlerts(fleet, rule, HOST, 1);
    process.kill(svc.paus.pid(), 'SIGKILL');
    const healed = await orderIn(fleet, (await newOrder(fleet, rule, seen)).id);
    expect(healed).toMatchObject({ state: 'succeeded', action: 'service.restart' });
    await serviceIs(svc.paus.port, true);
  });
});
