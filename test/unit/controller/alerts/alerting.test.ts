import { describe, expect, it } from 'vitest';
import { SimClock } from '../../../../controller/clock.js';
import { Groups, type NotificationLogEntry } from '../../../../controller/alerts/groups.js';
import { AlertStates, type AlertRule, type Transition } from '../../../../controller/alerts/state-machine.js';
import { Maintenance } from '../../../../controller/alerts/maintenance.js';
import { direct, route, type Route } from '../../../../controller/alerts/routes.js';
import { Silences, matches, parseMatcher, type Matcher } from '../../../../controller/alerts/silences.js';
import type { Notification } from '../../../../controller/notify/index.js';
import type { AlertRecord } from '../../../../controller/model.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const m = (s: string) => parseMatcher(s) as Matcher;

function alert(host: string, state: AlertRecord['state'] = 'firing', extra: Partial<AlertRecord> = {}): AlertRecord {
  const labels = { alertname: 'svc-down', rule: 'web/svc-down', host, severity: 'critical', ...(extra.labels ?? {}) };
  return {
    id: `a-${host}`,
    rule: 'web/svc-down',
    host,
    severity: 'critical',
    state,
    startsAt: new Date(T0).toISOString(),
    firedAt: new Date(T0).toISOString(),
    endsAt: state === 'resolved' ? new Date(T0 + 1).toISOString() : null,
    summary: `svc down on ${host}`,
    description: '',
    labels,
    fingerprint: `fp-${host}`,
    heals: [],
    updatedAt: '',
    ack: null,
    flapping: false,
    clearedAt: null,
    ...extra,
  };
}

describe('matchers and routes', () => {
  it('parses and matches the four matcher forms', () => {
    const labels = { host: 'web-1', alertname: 'disk-full', env: 'prod' };
    expect(matches([m('host=web-1')], labels)).toBe(true);
    expect(matches([m('alertname=~disk.*')], labels)).toBe(true);
    expect(matches([m('alertname=~disk')], labels)).toBe(false); // anchored
    expect(matches([m('env!=prod')], labels)).toBe(false);
    expect(matches([m('env!~dev|test'), m('host=web-1')], labels)).toBe(true);
    expect(matches([m('team=')], labels)).toBe(true); // missing label reads as empty
    expect(parseMatcher('host')).toMatch(/^bad matcher "host": expected name=value/);
    expect(parseMatcher('host=~(')).toMatch(/^bad regex in matcher/);
  });

  it('walks the routing tree: deepest match wins, continue lets siblings match, settings inherit', () => {
    const root: Route = {
      receiver: 'default',
      matchers: [],
      groupBy: ['alertname'],
      groupWait: 5000,
      continue: false,
      routes: [
        { receiver: 'pager', matchers: [m('severity=critical')], continue: true, routes: [], groupInterval: 60_000 },
        { receiver: 'db-team', matchers: [m('namespace=db')], continue: false, routes: [] },
      ],
    };
    expect(route(root, { severity: 'critical', namespace: 'db' }).map((d) => d.receiver)).toEqual(['pager', 'db-team']);
    expect(route(root, { severity: 'warning', namespace: 'web' }).map((d) => d.receiver)).toEqual(['default']);
    expect(route(root, { severity: 'critical' })[0]).toEqual({
      receiver: 'pager',
      groupBy: ['alertname'],
      groupWait: 5000,
      groupInterval: 60_000,
      repeatInterval: 14_400_000,
    });
    expect(direct(['ops'], undefined)).toEqual([
      { receiver: 'ops', groupBy: ['alertname', 'host'], groupWait: 0, groupInterval: 30_000, repeatInterval: 14_400_000 },
    ]);
  });
});

describe('notification groups', () => {
  const setup = (muted: (a: AlertRecord) => string | null = () => null) => {
    const clock = new SimClock(T0);
    const sent: Notification[] = [];
    const log: NotificationLogEntry[] = [];
    const groups = new Groups({ clock, deliver: (n) => sent.push(n), externalUrl: () => 'http://x', mutedBy: muted, log: (e) => log.push(e) });
    return { clock, sent, log, groups };
  };
  const byAlertname = { receiver: 'ops', groupBy: ['alertname'], groupWait: 2000, groupInterval: 30_000, repeatInterval: 3_600_000 };

  it('turns a burst of 50 alerts into one notification per group', async () => {
    const { clock, sent, groups } = setup();
    for (let i = 0; i < 50; i++) {
      groups.update(alert(`h${i}`), [byAlertname]);
      await clock.advanceTo(clock.now() + 20);
    }
    await clock.advanceTo(T0 + 5000);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ receiver: 'ops', status: 'firing', groupLabels: { alertname: 'svc-down' } });
    expect(sent[0].alerts).toHaveLength(50);
  });

  it('pages the first alert at once with groupWait 0, batches later ones, and repeats until acknowledged', async () => {
    const { clock, sent, groups } = setup();
    const d = { ...byAlertname, groupWait: 0 };
    groups.update(alert('h1'), [d]);
    await clock.advanceTo(T0);
    expect(sent).toHaveLength(1);
    groups.update(alert('h2'), [d]);
    groups.update(alert('h3'), [d]);
    await clock.advanceTo(T0 + 29_999);
    expect(sent).toHaveLength(1);
    await clock.advanceTo(T0 + 30_000);
    expect(sent.map((n) => n.alerts.length)).toEqual([1, 3]);
    await clock.advanceTo(T0 + 30_000 + 3_600_000);
    expect(sent).toHaveLength(3); // repeat
    for (const h of ['h1', 'h2', 'h3']) groups.acknowledge({ ...alert(h), ack: { by: 'alice', at: '', comment: '' } });
    await clock.advanceTo(T0 + 30_000 + 2 * 3_600_000);
    expect(sent).toHaveLength(3);
  });

  it('sends a resolved notice within seconds, and none when the fault comes straight back', async () => {
    const { clock, sent, groups } = setup();
    const d = { ...byAlertname, groupWait: 0 };
    groups.update(alert('h1'), [d]);
    await clock.advanceTo(T0 + 100);
    groups.update(alert('h1', 'resolved'), [d]);
    await clock.advanceTo(T0 + 2100);
    expect(sent.map((n) => n.status)).toEqual(['firing', 'resolved']);
    expect(sent[1].alerts[0]).toMatchObject({ status: 'resolved' });
    groups.update(alert('h1'), [d]);
    await clock.advanceTo(T0 + 40_000);
    groups.update(alert('h1', 'resolved'), [d]);
    await clock.advanceTo(T0 + 40_500);
    groups.update(alert('h1'), [d]);
    await clock.advanceTo(T0 + 45_000);
    expect(sent.map((n) => n.status)).toEqual(['firing', 'resolved', 'firing']);
  });

  it('holds back muted alerts, logs why once, and pages them when the mute ends', async () => {
    let mute: string | null = 'silenced by s1';
    const { clock, sent, log, groups } = setup(() => mute);
    groups.update(alert('h1'), [{ ...byAlertname, groupWait: 0 }]);
    await clock.advanceTo(T0 + 10_000);
    expect(sent).toEqual([]);
    expect(log).toEqual([expect.objectContaining({ outcome: 'muted', reason: 'silenced by s1', receiver: 'ops' })]);
    groups.refresh();
    await clock.advanceTo(T0 + 20_000);
    expect(log).toHaveLength(1);
    mute = null;
    groups.refresh();
    await clock.advanceTo(T0 + 20_001);
    expect(sent).toHaveLength(1);
    // A muted alert that resolves without ever paging sends no resolved notice.
    mute = 'silenced by s2';
    groups.update(alert('h2'), [{ ...byAlertname, groupWait: 0 }]);
    groups.update(alert('h2', 'resolved'), [{ ...byAlertname, groupWait: 0 }]);
    await clock.advanceTo(T0 + 200_000);
    expect(sent.flatMap((n) => n.alerts.map((a) => a.host))).not.toContain('h2');
  });
});

describe('alert hysteresis and flapping', () => {
  const host = { id: 'h1', labels: {} };
  const rule = (extra: Partial<AlertRule> = {}): AlertRule => ({
    id: 'web/svc-down',
    name: 'svc-down',
    namespace: 'web',
    severity: 'critical',
    forMs: 0,
    description: '',
    labels: {},
    ...extra,
  });

  it('keepFiringFor holds a firing alert while the condition is briefly clear', () => {
    const seen: Transition[] = [];
    const am = new AlertStates({ onTransition: (t) => seen.push(t) });
    const r = rule({ keepFiringForMs: 60_000 });
    am.observe(r, host, true, T0);
    am.observe(r, host, false, T0 + 10_000);
    am.observe(r, host, true, T0 + 20_000);
    am.observe(r, host, false, T0 + 30_000);
    expect(am.tick(T0 + 89_999)).toEqual([]);
    expect(am.tick(T0 + 90_000).map((t) => t.to)).toEqual(['resolved']);
    expect(seen.filter((t) => t.from !== t.to).map((t) => t.to)).toEqual(['firing', 'resolved']);
  });

  it('a flapping condition marks the alert flapping and holds it firing: one incident, not twenty', () => {
    const seen: Transition[] = [];
    const am = new AlertStates({ onTransition: (t) => seen.push(t) });
    const r = rule({ flap: { windowMs: 60_000, changes: 4 } });
    let t = T0;
    for (let i = 0; i < 20; i++) {
      am.observe(r, host, true, (t += 1000));
      am.observe(r, host, false, (t += 1000));
    }
    const fired = seen.filter((x) => x.to === 'firing' && x.from !== 'firing');
    expect(fired.length).toBeLessThanOrEqual(3);
    expect(am.get(r.id, 'h1')).toMatchObject({ state: 'firing', flapping: true });
    expect(am.tick(t + 59_999)).toEqual([]);
    expect(am.tick(t + 60_000).map((x) => x.to)).toEqual(['resolved']);
  });
});

describe('silences and maintenance windows', () => {
  it('a silence is pending, active, then expired; expiring it early ends it', () => {
    const s = new Silences();
    const sil = s.add({ matchers: [m('host=web-1')], startsAt: T0 + 1000, endsAt: T0 + 60_000, createdBy: 'alice', comment: 'swap disk' }, T0);
    expect(s.matching({ host: 'web-1' }, T0)).toEqual([]);
    expect(s.matching({ host: 'web-1' }, T0 + 1000).map((x) => x.id)).toEqual([sil.id]);
    expect(s.matching({ host: 'web-2' }, T0 + 1000)).toEqual([]);
    expect(s.nextChange(T0 + 1000)).toBe(T0 + 60_000);
    expect(s.expire(sil.id, T0 + 2000)).toBe(true);
    expect(s.all(T0 + 2000)[0].state).toBe('expired');
    expect(s.expire(sil.id, T0 + 3000)).toBe(false);
  });

  it('a window is open from each cron match for its duration, for the hosts it covers', () => {
    const w = new Maintenance([{ name: 'nightly', schedule: '0 2 * * *', duration: 3_600_000, hosts: { role: 'db' }, timezone: 'UTC' }]);
    const db = { id: 'db-1', labels: { role: 'db' } };
    const at = (hhmm: string) => Date.parse(`2026-01-01T${hhmm}:00Z`);
    expect(w.covering(db, at('01:59'))).toBeNull();
    expect(w.covering(db, at('02:00'))).toBe('nightly');
    expect(w.covering(db, at('02:59'))).toBe('nightly');
    expect(w.covering(db, at('03:00'))).toBeNull();
    expect(w.covering({ id: 'web-1', labels: { role: 'web' } }, at('02:30'))).toBeNull();
  });
});
