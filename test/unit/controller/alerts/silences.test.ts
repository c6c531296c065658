import { RE2JS } from 're2js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { Groups } from '../../../../controller/alerts/groups.js';
import { Silences, matcherSchema, matches, parseMatcher, type Matcher, type SilenceProblem } from '../../../../controller/alerts/silences.js';
import { SimClock, realClock } from '../../../../controller/clock.js';
import type { Notification } from '../../../../controller/notify/index.js';
import type { AlertRecord } from '../../../../controller/model.js';
import { validate } from '../../../../protocol/index.js';
import { zodValidator } from '../../../../protocol/zod.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const m = (s: string) => parseMatcher(s) as Matcher;
const body = z.strictObject({ matchers: z.array(matcherSchema) });
/** The API's check of a silence body: the error text, or 'ok'. */
const check = (matchers: unknown[]): string => {
  try {
    validate({ matchers }, 'request body', zodValidator(body), 'API_BAD_REQUEST');
    return 'ok';
  } catch (e) {
    return (e as Error).message;
  }
};

describe('silence matchers', () => {
  it("refuses a bad regex in either form, at the matcher's own pointer", () => {
    expect(check(['host=web-1', { name: 'host', value: '(', isRegex: true }])).toBe(
      'request body /matchers/1/value: invalid regular expression (RE2 syntax, as in Alertmanager): missing closing ): `(`',
    );
    expect(check(['host=web-1', 'env=prod', 'alertname=~disk('])).toBe(
      'request body /matchers/2: bad regex in matcher "alertname=~disk(": invalid regular expression (RE2 syntax, as in Alertmanager): missing closing ): `disk(`',
    );
    // Backreferences and lookaround would need backtracking: RE2 has neither.
    expect(check([{ name: 'host', value: '(a)\\1', isRegex: true, isEqual: false }])).toMatch(
      /^request body \/matchers\/0\/value: invalid regular expression .*invalid escape sequence/,
    );
    expect(check(['host=~(?=web)web-1'])).toMatch(/^request body \/matchers\/0: bad regex in matcher/);
    expect(check([42])).toBe(
      'request body /matchers/0: expected a matcher: a string like "host=web-1" or "alertname=~disk.*", or {"name", "value", "isRegex", "isEqual"}',
    );
    expect(check([{ name: 'host', value: 'x'.repeat(5000) }])).toMatch(/^request body \/matchers\/0\/value: Too big/);
    expect(check(['host=web-1', { name: 'host', value: 'web-.*', isRegex: true }])).toBe('ok');
  });

  it("matches anchored, like Alertmanager's ^(?:regex)$", () => {
    const labels = { host: 'web-1', alertname: 'cpu-high' };
    expect(matches([m('alertname=~disk|cpu')], labels)).toBe(false);
    expect(matches([m('alertname=~disk|cpu-high')], labels)).toBe(true);
    expect(matches([m('alertname=~cpu')], labels)).toBe(false);
    expect(matches([m('host!~db-.*')], labels)).toBe(true);
    expect(matches([{ name: 'host', value: 'web-[0-9]+', isRegex: true, isEqual: true }], labels)).toBe(true);
  });

  it('evaluates a catastrophic-backtracking pattern in linear time (it returns)', () => {
    // A backtracking engine tries ~2^n ways to split the a's before it fails; RE2 makes one pass.
    const evil = 'a'.repeat(5000) + 'b';
    expect(check(['host=~(a+)+$'])).toBe('ok');
    expect(matches([m('host=~(a+)+$')], { host: evil })).toBe(false);
    expect(matches([m('host!~(a|a)*c')], { host: evil })).toBe(true);
    expect(matches([m('host=~(a+)+$')], { host: 'aaaa' })).toBe(true);
  });

  it("compiles each matcher's regex once, not on every match", () => {
    const compile = vi.spyOn(RE2JS, 'compile');
    try {
      const set = [m('host=~web-[0-9]+'), m('alertname!~disk.*')];
      compile.mockClear();
      for (let i = 0; i < 1000; i++) matches(set, { host: `web-${i}`, alertname: 'cpu' });
      expect(compile).toHaveBeenCalledTimes(2);
    } finally {
      compile.mockRestore();
    }
  });

  it('a regex that never passed the check (unchecked data) matches nothing and never throws', () => {
    const broken: Matcher = { name: 'host', value: '(', isRegex: true, isEqual: false };
    expect(matches([broken], { host: 'web-1' })).toBe(false);
    expect(matches([m('host=web-1'), broken], { host: 'web-1' })).toBe(false);
  });
});

describe('stored silences', () => {
  const good = {
    id: 'good',
    matchers: [{ name: 'host', value: 'web-1', isRegex: false, isEqual: true }],
    startsAt: new Date(T0).toISOString(),
    endsAt: new Date(T0 + 3_600_000).toISOString(),
    createdBy: 'alice',
    comment: '',
    pauseHeals: false,
    createdAt: new Date(T0).toISOString(),
  };
  const badRegex = { ...good, id: 'bad-regex', matchers: [{ name: 'host', value: '(', isRegex: true, isEqual: true }] };

  it('skips a stored silence with a bad regex, reports it once, and applies the others', () => {
    const problems: SilenceProblem[] = [];
    const s = new Silences([badRegex, good, { id: 'no-matchers', startsAt: 'soon' }], (p) => problems.push(p));
    expect(problems).toEqual([
      { id: 'bad-regex', index: 0, problem: '/matchers/0/value: invalid regular expression (RE2 syntax, as in Alertmanager): missing closing ): `(`' },
      { id: 'no-matchers', index: 2, problem: '/matchers: required, expected array' },
    ]);
    for (let i = 0; i < 3; i++) expect(s.matching({ host: 'web-1' }, T0 + 1000).map((x) => x.id)).toEqual(['good']);
    expect(problems).toHaveLength(2);
    // Listed as invalid, kept as stored (nothing lost), and removed when expired by hand.
    expect(s.all(T0).map((x) => [x.id, x.state])).toEqual([
      ['good', 'active'],
      ['bad-regex', 'invalid'],
      ['no-matchers', 'invalid'],
    ]);
    expect(s.toJSON()).toEqual([good, badRegex, { id: 'no-matchers', startsAt: 'soon' }]);
    expect(s.expire('bad-regex', T0)).toBe(true);
    expect(s.toJSON().map((x) => (x as { id: string }).id)).toEqual(['good', 'no-matchers']);
  });

  it('a stored value that is not a list is kept and reported, never thrown', () => {
    const problems: SilenceProblem[] = [];
    const s = new Silences({ oops: true }, (p) => problems.push(p));
    expect(problems).toEqual([{ id: '#0', index: 0, problem: 'the stored silences are not a list' }]);
    expect(s.matching({ host: 'web-1' }, T0)).toEqual([]);
    expect(s.toJSON()).toEqual([{ oops: true }]);
  });
});

describe('a notification group flush', () => {
  const alert: AlertRecord = {
    id: 'a1',
    rule: 'web/svc-down',
    host: 'h1',
    severity: 'critical',
    state: 'firing',
    startsAt: new Date(T0).toISOString(),
    firedAt: new Date(T0).toISOString(),
    endsAt: null,
    summary: 'svc down',
    description: '',
    labels: { alertname: 'svc-down', host: 'h1' },
    fingerprint: 'fp-h1',
    heals: [],
    updatedAt: '',
    ack: null,
    flapping: false,
    clearedAt: null,
  };
  const d = { receiver: 'ops', groupBy: ['alertname'], groupWait: 0, groupInterval: 30_000, repeatInterval: 3_600_000 };

  it('survives a mute check that throws: the alert pages, the fault is reported', async () => {
    const clock = new SimClock(T0);
    const sent: Notification[] = [];
    const errors: string[] = [];
    const groups = new Groups({
      clock,
      deliver: (n) => sent.push(n),
      externalUrl: () => 'http://x',
      log: () => undefined,
      mutedBy: () => {
        throw new SyntaxError('Invalid regular expression: /^(?:()$/: Unterminated group');
      },
      onError: (e, where) => errors.push(`${where}: ${(e as Error).message}`),
    });
    groups.update(alert, [d]);
    await clock.advanceTo(T0 + 1000);
    expect(sent).toHaveLength(1);
    expect(errors).toEqual(['mute check of alert a1: Invalid regular expression: /^(?:()$/: Unterminated group']);
  });

  it('survives a delivery that throws: the fault is reported and the group carries on', async () => {
    const clock = new SimClock(T0);
    const errors: string[] = [];
    let fail = true;
    const sent: Notification[] = [];
    const groups = new Groups({
      clock,
      externalUrl: () => 'http://x',
      log: () => undefined,
      mutedBy: () => null,
      deliver: (n) => {
        if (fail) throw new Error('receiver exploded');
        sent.push(n);
      },
      onError: (e, where) => errors.push(`${where}: ${(e as Error).message}`),
    });
    groups.update(alert, [d]);
    await clock.advanceTo(T0 + 1000);
    expect(errors).toEqual(['notification group ops:{"alertname":"svc-down"}: receiver exploded']);
    fail = false;
    groups.update({ ...alert, id: 'a2', host: 'h2', fingerprint: 'fp-h2' }, [d]);
    await clock.advanceTo(T0 + 60_000);
    expect(sent.flatMap((n) => n.alerts.map((a) => a.host)).sort()).toEqual(['h1', 'h2']);
  });
});

describe('the real clock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits out a delay longer than setTimeout can hold (a 30-day silence) instead of firing at once', () => {
    vi.useFakeTimers({ now: T0 });
    let fired = 0;
    realClock.after(30 * 86_400_000, () => {
      fired++;
    });
    vi.advanceTimersByTime(60_000);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(30 * 86_400_000 - 60_001);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(1);
  });
});
