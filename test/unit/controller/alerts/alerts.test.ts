import { describe, expect, it } from 'vitest';
import { AlertStates, type AlertRule, type Transition } from '../../../../controller/alerts/state-machine.js';

const rule = (forMs: number): AlertRule => ({
  id: 'web/demo-down',
  name: 'demo-down',
  namespace: 'web',
  severity: 'critical',
  forMs,
  summary: 'demo is down on {{host}} ({{labels.role}})',
  description: 'd',
  labels: { team: 'web' },
});
const host = { id: 'web-1', labels: { role: 'web' } };
const T0 = Date.parse('2026-01-01T00:00:00Z');

function machine() {
  const seen: Transition[] = [];
  let n = 0;
  const m = new AlertStates({ onTransition: (t) => seen.push(structuredClone(t)), newId: () => `a${++n}` });
  return { m, seen };
}

describe('alert state machine', () => {
  it('fires at once when "for" is 0 and resolves when the condition clears', () => {
    const { m, seen } = machine();
    m.observe(rule(0), host, true, T0);
    m.observe(rule(0), host, true, T0 + 1000);
    m.observe(rule(0), host, false, T0 + 2000);
    expect(seen.map((t) => [t.from, t.to])).toEqual([
      [null, 'firing'],
      ['firing', 'resolved'],
    ]);
    expect(seen[1].alert).toMatchObject({
      id: 'a1',
      state: 'resolved',
      startsAt: new Date(T0).toISOString(),
      firedAt: new Date(T0).toISOString(),
      endsAt: new Date(T0 + 2000).toISOString(),
    });
    expect(m.list()).toEqual([]);
  });

  it('stays pending until the condition has held for "for"', () => {
    const { m, seen } = machine();
    const r = rule(60_000);
    m.observe(r, host, true, T0);
    m.observe(r, host, true, T0 + 59_999);
    expect(seen.map((t) => t.to)).toEqual(['pending']);
    m.observe(r, host, true, T0 + 60_000);
    expect(seen.map((t) => t.to)).toEqual(['pending', 'firing']);
    expect(m.get(r.id, host.id)?.firedAt).toBe(new Date(T0 + 60_000).toISOString());
  });

  it('drops a pending alert whose condition clears before "for", and starts over next time', () => {
    const { m, seen } = machine();
    const r = rule(60_000);
    m.observe(r, host, true, T0);
    m.observe(r, host, false, T0 + 30_000);
    m.observe(r, host, true, T0 + 40_000);
    m.observe(r, host, true, T0 + 90_000);
    expect(seen.map((t) => [t.alert.id, t.from, t.to])).toEqual([
      ['a1', null, 'pending'],
      ['a1', 'pending', 'resolved'],
      ['a2', null, 'pending'],
    ]);
    m.observe(r, host, true, T0 + 100_000);
    expect(seen.at(-1)).toMatchObject({ from: 'pending', to: 'firing', alert: { id: 'a2' } });
  });

  it('keeps one alert per rule and host', () => {
    const { m } = machine();
    m.observe(rule(0), host, true, T0);
    m.observe(rule(0), { id: 'web-2', labels: { role: 'web' } }, true, T0);
    m.observe(rule(0), host, true, T0 + 1);
    expect(
      m
        .list()
        .map((a) => a.host)
        .sort(),
    ).toEqual(['web-1', 'web-2']);
  });

  it('labels alerts with rule, host and host labels, and renders the summary', () => {
    const { m } = machine();
    const t = m.observe(rule(0), host, true, T0)!;
    expect(t.alert.labels).toEqual({
      role: 'web',
      team: 'web',
      alertname: 'demo-down',
      rule: 'web/demo-down',
      namespace: 'web',
      host: 'web-1',
      severity: 'critical',
    });
    expect(t.alert.summary).toBe('demo is down on web-1 (web)');
    expect(t.alert.fingerprint).toMatch(/^[0-9a-f]{16}$/);
  });

  it('restores open alerts after a restart and resolves them later', () => {
    const first = machine();
    first.m.observe(rule(0), host, true, T0);
    const open = first.m.list();
    const second = machine();
    second.m.restore(open);
    second.m.observe(rule(0), host, true, T0 + 5000);
    expect(second.seen).toEqual([]);
    second.m.observe(rule(0), host, false, T0 + 6000);
    expect(second.seen.map((t) => [t.alert.id, t.to])).toEqual([['a1', 'resolved']]);
  });

  it('renders the summary from the facts of the sample that started the alert, naming what a wildcard matched', () => {
    const { m } = machine();
    const r: AlertRule = { ...rule(0), summary: '{{match}} on {{host}} expire(s): {{facts.cert.site.subject}}' };
    const facts = { cert: { site: { daysLeft: 3, subject: 'example.com' }, api: { daysLeft: 90, subject: 'api' } } };
    const t = m.observe(r, host, true, T0, { facts, match: ['site'] });
    expect(t?.alert.summary).toBe('site on web-1 expire(s): example.com');
  });
});
