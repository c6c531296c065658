import { describe, expect, it } from 'vitest';
import { fromConfig, fromDependencies, inhibitSchema, Inhibitor } from '../../../../controller/alerts/inhibit.js';
import type { AlertRecord } from '../../../../controller/model.js';
import { runRuleTest } from '../../../../controller/replay/rule-test.js';

const alert = (id: string, rule: string, host: string, labels: Record<string, string>, state: AlertRecord['state'] = 'firing') =>
  ({ id, rule, host, state, labels: { alertname: rule.split('/')[1], rule, host, ...labels } }) as unknown as AlertRecord;

describe('inhibition', () => {
  it('holds back targets while a source with the same equal labels fires, and names it', () => {
    const open: AlertRecord[] = [];
    const inh = new Inhibitor(() => open);
    inh.set(fromConfig([inhibitSchema.parse({ source_matchers: ['alertname=db-down'], target_matchers: ['severity=~warning|info'], equal: ['env'] })]));
    const app = alert('a2', 'app/app-errors', 'app-1', { env: 'prod', severity: 'warning' });
    const crit = alert('a3', 'app/app-dead', 'app-1', { env: 'prod', severity: 'critical' });
    const other = alert('a4', 'app/app-errors', 'app-9', { env: 'test', severity: 'warning' });
    expect(inh.reason(app)).toBeNull();
    open.push(alert('a1', 'db/db-down', 'db-1', { env: 'prod', severity: 'critical' }));
    inh.changed();
    expect(inh.reason(app)).toMatch(/^inhibited by db-down firing on db-1 \(inhibit\[0\]: alertname=db-down; equal env\)$/);
    expect(inh.reason(crit)).toBeNull(); // not a target
    expect(inh.reason(other)).toBeNull(); // another env
    open[0] = { ...open[0], state: 'resolved' };
    inh.changed();
    expect(inh.reason(app)).toBeNull();
  });

  it('never lets an alert inhibit itself, and reads a missing equal label as ""', () => {
    const self = alert('a1', 'x/flood', 'h', { severity: 'warning' });
    const inh = new Inhibitor(() => [self]);
    inh.set(fromConfig([inhibitSchema.parse({ source_matchers: ['alertname=flood'], target_matchers: ['alertname=flood'], equal: ['zone'] })]));
    expect(inh.reason(self)).toBeNull();
    expect(inh.reason(alert('a2', 'x/flood', 'g', { severity: 'warning' }))).toMatch(/inhibited by flood firing on h/);
  });

  it('dependsOn defaults to the same host', () => {
    const [dep] = fromDependencies([{ id: 'app/errors', dependsOn: [{ rule: 'db/down', equal: ['host'] }] }]);
    const inh = new Inhibitor(() => [alert('a1', 'db/down', 'h1', {})]);
    inh.set([dep]);
    expect(inh.reason(alert('a2', 'app/errors', 'h1', {}))).toMatch(/app\/errors dependsOn/);
    expect(inh.reason(alert('a3', 'app/errors', 'h2', {}))).toBeNull();
  });

  it('refuses a bad matcher with its pointer', () => {
    const r = inhibitSchema.safeParse({ source_matchers: ['alertname=~(a'], target_matchers: [] });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('/'))).toEqual(['source_matchers/0', 'target_matchers']);
  });

  it('through the controller: no page and no heal for the dependent alert until its parent clears (rule test)', async () => {
    const out = await runRuleTest('test/fixtures/depends/app/depends.test.json');
    expect(out.failures).toEqual([]);
    expect(out.ok).toBe(true);
  });
});
