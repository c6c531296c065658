import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatRuleError, loadRules } from '../../../../controller/rules/load.js';

const bad = (f: string) => join('test/fixtures/bad-rules', f);

describe('rule loading', () => {
  it('loads the shipped rules with namespaces from their folders', () => {
    const { rules, errors } = loadRules(['rules']);
    expect(errors).toEqual([]);
    const demo = rules.find((r) => r.id === 'demo/demo-down');
    expect(demo).toMatchObject({
      namespace: 'demo',
      name: 'demo-down',
      for: 0,
      severity: 'critical',
      heal: {
        steps: [{ action: 'service.restart', params: { service: 'demo' } }],
        maxPerHour: 10,
        verifyWithin: 30_000,
        maxConcurrent: '25%',
        approval: 'none',
      },
    });
    expect(rules.every((r) => Object.isFrozen(r) && Object.isFrozen(r.when))).toBe(true);
  });

  const table: [string, string, string][] = [
    ['team/not-json.json', 'RULE_NOT_JSON', 'test/fixtures/bad-rules/team/not-json.json:5:1: not valid JSON'],
    ['team/unknown-field.json', 'RULE_INVALID', 'team/unknown-field.json /: unknown field "sevrity"'],
    [
      'team/unknown-action.json',
      'RULE_UNKNOWN_ACTION',
      'team/unknown-action.json /heal/action: unknown action "host.reboot" (known: service.restart, script.run, process.kill, disk.cleanup)',
    ],
    ['team/bad-params.json', 'RULE_BAD_PARAMS', 'team/bad-params.json /heal/params: unknown parameter "svc" for service.restart'],
    ['team/bad-duration.json', 'RULE_INVALID', 'team/bad-duration.json /for: expected a duration like "10s", "5m" or "7d", got "5 minutes"'],
    [
      'team/unknown-fact.json',
      'RULE_INVALID',
      'team/unknown-fact.json /when/any/1/fact: unknown fact "gpu" (known: cpu, memory, disk, net, io, system, top, service, check, metric, cert, ping, dns, log, host, controller)',
    ],
    ['team/unknown-operator.json', 'RULE_INVALID', 'team/unknown-operator.json /when/all/0/operator: unknown operator "biggerThan"'],
    ['team/bad-path.json', 'RULE_BAD_PATH', 'team/bad-path.json /when/all/0/path: bad path "$..usedPercent"'],
    ['team/leaf-at-top.json', 'RULE_INVALID', 'team/leaf-at-top.json /when: the top of "when" must be {"all": […]}, {"any": […]} or {"not": …}'],
    ['team/empty-selector.json', 'RULE_INVALID', 'team/empty-selector.json /hosts: an empty host selector is ambiguous'],
    ['team/bad-severity.json', 'RULE_INVALID', 'team/bad-severity.json /severity: '],
    ['team/missing-when.json', 'RULE_INVALID', 'team/missing-when.json /when: '],
    ['team/bad-name.json', 'RULE_INVALID', 'team/bad-name.json /name: a rule name is 1–100 letters'],
    ['team/missing-value.json', 'RULE_INVALID', 'team/missing-value.json /when/all/0/value: a condition needs a "value"'],
    [
      'team/wildcard-vs-fact.json',
      'RULE_INVALID',
      'team/wildcard-vs-fact.json /when/all/0/value: a wildcard path ("*") compares every key with a constant value, not with another fact',
    ],
    ['team/two-wildcards.json', 'RULE_BAD_PATH', 'team/two-wildcards.json /when/all/0/path: bad path "$.*[*]": a path may hold one wildcard'],
    ['team/bad-summary.json', 'RULE_INVALID', 'team/bad-summary.json /summary: {{facts.logs.app.lastLine}}: unknown fact "logs"'],
    ['team/depends-unknown.json', 'RULE_INVALID', 'team/depends-unknown.json /dependsOn/0: unknown rule "db/nope"'],
    ['team/depends-self.json', 'RULE_INVALID', 'team/depends-self.json /dependsOn/0: a rule cannot depend on itself'],
    ['team/window-unknown-fn.json', 'RULE_INVALID', 'team/window-unknown-fn.json /when/all/0/fn: unknown window function "mean" (known: avg, min, max'],
    ['team/window-no-over.json', 'RULE_INVALID', 'team/window-no-over.json /when/all/0/over: a window needs "over" (a duration like "10m") beside "fn"'],
    [
      'team/window-bad-over.json',
      'RULE_INVALID',
      'team/window-bad-over.json /when/all/0/over: "over": expected a duration like "10m", "1h" or "4h", got "ten minutes"',
    ],
    [
      'team/window-too-long.json',
      'RULE_INVALID',
      'team/window-too-long.json /when/all/0/over: a window is 1s to 1d (the controller keeps windows in memory), got 30d',
    ],
    [
      'team/window-predict-string.json',
      'RULE_BAD_PATH',
      'team/window-predict-string.json /when/all/0/path: "fn": "predict" needs numbers, and "$.disk.state" of check is a string',
    ],
    [
      'team/controller-scope-heal.json',
      'RULE_INVALID',
      'team/controller-scope-heal.json /heal: a rule with "scope": "controller" judges the controller itself: it takes no "heal"',
    ],
    [
      'team/controller-scope-host-fact.json',
      'RULE_INVALID',
      'team/controller-scope-host-fact.json /when/all/0/fact: a rule with "scope": "controller" sees only the "controller" fact, not "cpu"',
    ],
    [
      'team/controller-fact-in-host-rule.json',
      'RULE_INVALID',
      `team/controller-fact-in-host-rule.json /when/all/1/fact: the "controller" fact is the controller's own health: use it in a rule with "scope": "controller"`,
    ],
    [
      'team/path-missing.json',
      'RULE_BAD_PATH',
      `team/path-missing.json /when/all/0/path: the disk fact has nothing at "$['/'].usedPercnt": the rule could never match`,
    ],
  ];
  it.each(table)('reports %s with its file and JSON pointer', (file, code, text) => {
    const { rules, errors } = loadRules([bad(file)]);
    expect(rules).toEqual([]);
    expect(errors.map((e) => e.code)).toContain(code);
    expect(errors.map(formatRuleError).join('\n')).toContain(text);
  });

  it('reports every error of a folder at once, and loads nothing from it', () => {
    const { rules, errors, files } = loadRules([bad('team')]);
    expect(files).toBe(table.length);
    expect(new Set(errors.map((e) => e.file)).size).toBe(table.length);
    expect(rules).toEqual([]);
  });

  it('refuses two rules of one name in a namespace', () => {
    const { errors } = loadRules([bad('dup')]);
    expect(errors).toHaveLength(1);
    expect(errors[0].code).toBe('RULE_DUPLICATE_NAME');
    expect(formatRuleError(errors[0])).toMatch(/b\.json \/name: duplicate rule name "same" in namespace "default" \(also in .*a\.json\)/);
  });

  it('refuses a receiver the controller does not define', () => {
    const { errors } = loadRules([bad('receivers')], { receivers: new Set(['ops']) });
    expect(errors.map(formatRuleError)).toEqual([
      expect.stringMatching(/unknown-receiver\.json \/notify\/1: unknown receiver "pager" \(the controller config defines: ops\)/),
    ]);
  });

  it('reports a missing rules path', () => {
    const { errors } = loadRules(['no/such/dir']);
    expect(errors[0]).toMatchObject({ code: 'RULES_NOT_FOUND', file: 'no/such/dir' });
  });
});
