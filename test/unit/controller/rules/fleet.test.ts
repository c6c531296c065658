import { describe, expect, it } from 'vitest';
import { FleetEvaluator } from '../../../../controller/rules/fleet.js';
import { ruleSchema, type Rule } from '../../../../controller/rules/schema.js';
import { runRuleTest } from '../../../../controller/replay/rule-test.js';
import { Windows } from '../../../../controller/rules/windows/store.js';

const rule = (fleet: unknown, hosts?: Record<string, string>) =>
  ({ ...ruleSchema.parse({ name: 'f', fleet, ...(hosts ? { hosts } : {}) }), id: 't/f' }) as Rule;
const host = (id: string, role = 'db') => ({ id, labels: { role } });
const cpu = (usage: number) => ({ cpu: { usage, load1: 0, load5: 0, load15: 0 } });

describe('fleet conditions', () => {
  it('avg: the mean of the members’ latest values, updated one sample at a time', () => {
    const ev = new FleetEvaluator([rule({ avg: { fact: 'cpu', path: '$.usage', operator: 'greaterThan', value: 80 } }, { role: 'db' })], new Windows());
    expect(ev.observe(host('db-1'), cpu(90), 0)[0].holds).toBe(true);
    expect(ev.observe(host('db-2'), cpu(60), 0)[0].holds).toBe(false); // (90 + 60) / 2
    expect(ev.observe(host('db-1'), cpu(100), 1)[0].holds).toBe(false); // exactly 80
    expect(ev.observe(host('db-1'), cpu(101), 2)[0].holds).toBe(true);
    expect(ev.observe(host('web-1', 'web'), cpu(0), 2)).toEqual([]); // not selected: not a member
    // a member now held by another controller leaves
    expect(ev.remove('db-2')[0].holds).toBe(true);
  });

  it('share and minHosts: not enough data until the fleet is known, then the share of members meeting where', () => {
    const where = { all: [{ fact: 'cpu', path: '$.usage', operator: 'greaterThan', value: 90 }] };
    const ev = new FleetEvaluator([rule({ where, share: { operator: 'greaterThanInclusive', value: 50 }, minHosts: 2 })], new Windows());
    const first = ev.observe(host('a'), cpu(95), 0)[0];
    expect(first).toMatchObject({ holds: false, insufficient: true, holding: ['a'] });
    expect(ev.observe(host('b'), cpu(10), 0)[0]).toMatchObject({ holds: true, insufficient: false, holding: ['a'] });
    expect(ev.observe(host('c'), cpu(10), 0)[0].holds).toBe(false); // 1 of 3
  });

  it('refuses a fleet condition that cannot be judged, each at its pointer', () => {
    const issues = (fleet: unknown) => ruleSchema.safeParse({ name: 'f', fleet }).error?.issues.map((i) => `${i.path.join('/')}: ${i.message}`) ?? [];
    expect(issues({ count: { operator: 'lessThan', value: 2 } })).toEqual([expect.stringMatching(/^fleet\/where: "count" and "share" count the hosts/)]);
    expect(issues({ where: { all: [] }, count: { operator: 'lessThan', value: 2 }, share: { operator: 'lessThan', value: 2 } })).toContainEqual(
      expect.stringMatching(/^fleet\/share: a fleet condition has one of/),
    );
    expect(issues({ avg: { fact: 'check', path: '$.x.state', operator: 'lessThan', value: 2 } })).toEqual([
      expect.stringMatching(/^fleet\/avg\/path: "avg" needs a number, and "\$\.x\.state" of check is string/),
    ]);
    expect(
      ruleSchema.safeParse({ name: 'f', fleet: { avg: { fact: 'cpu', path: '$.usage', operator: 'lessThan', value: 2 } }, when: { all: [] } }).success,
    ).toBe(false);
  });

  it('through the controller: one alert for the tier, heals one member at a time, down hosts counted (rule test)', async () => {
    const out = await runRuleTest('test/fixtures/fleet/web/fleet.test.json');
    expect(out.failures).toEqual([]);
    expect(out.ok).toBe(true);
  });
});
