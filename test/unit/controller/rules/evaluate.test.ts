import { describe, expect, it } from 'vitest';
import { compileCondition } from '../../../../controller/rules/compile.js';
import { Evaluator, factsOf, selects } from '../../../../controller/rules/evaluate.js';
import { loadRules } from '../../../../controller/rules/load.js';
import { ANY_KEY, parsePath, pathResolver, resolveEach } from '../../../../controller/rules/path.js';
import type { Rule } from '../../../../controller/rules/schema.js';
import type { Sample } from '../../../../protocol/index.js';

const sample = (over: Partial<Sample> = {}): Sample => ({
  seq: 0,
  ts: 0,
  trigger: 'interval',
  cpu: { usage: 10, load1: 0, load5: 0, load15: 0 },
  memory: { usedPercent: 50, availableBytes: 1e9, totalBytes: 2e9 },
  disk: { '/': { usedPercent: 50, freeBytes: 1e9, totalBytes: 2e9 } },
  service: { demo: { up: true, since: 0 } },
  ...over,
});

describe('condition paths', () => {
  it('parses the forms rules use', () => {
    expect(parsePath('$.demo.up')).toEqual(['demo', 'up']);
    expect(parsePath("$['/'].usedPercent")).toEqual(['/', 'usedPercent']);
    expect(parsePath('$["/var/log"][0]')).toEqual(['/var/log', 0]);
    expect(parsePath('$')).toEqual([]);
  });
  it('refuses what it cannot read, saying where', () => {
    expect(parsePath('demo.up')).toMatch(/must start with "\$"/);
    expect(parsePath('$..up')).toMatch(/after "\." at character 2/);
    expect(parsePath('$[?(@.up)]')).toMatch(/filters and recursive descent are not supported/);
    expect(parsePath('$.*.x[*]')).toMatch(/one wildcard/);
  });
  it('reads one wildcard as every key, and a quoted "*" as the key named so', () => {
    expect(parsePath('$.*.daysLeft')).toEqual([ANY_KEY, 'daysLeft']);
    expect(parsePath('$.nginx[*]')).toEqual(['nginx', ANY_KEY]);
    expect(parsePath("$['*']")).toEqual(['*']);
    const certs = { site: { daysLeft: 3 }, api: { daysLeft: 40 }, odd: 5 };
    expect(resolveEach(certs, [ANY_KEY, 'daysLeft'])).toEqual([
      { key: 'site', value: 3 },
      { key: 'api', value: 40 },
      { key: 'odd', value: undefined },
    ]);
    expect(resolveEach({ a: 1 }, ['missing', ANY_KEY])).toEqual([]);
    expect(pathResolver(certs, '$.*.daysLeft')).toBeUndefined();
  });
  it('resolves without walking into prototypes', () => {
    expect(pathResolver({ a: { b: 2 } }, '$.a.b')).toBe(2);
    expect(pathResolver({ a: {} }, '$.a.constructor')).toBeUndefined();
    expect(pathResolver({ a: 1 }, '$.a.b')).toBeUndefined();
  });
});

describe('evaluator', () => {
  const { rules } = loadRules(['rules']);
  const demoHost = { id: 'local', labels: { role: 'demo' } };
  const webHost = { id: 'web-1', labels: { role: 'web' } };

  it('runs only the rules that select the host', () => {
    const ev = new Evaluator(rules);
    expect(ev.rulesFor(demoHost).map((r) => r.id)).toContain('demo/demo-down');
    expect(ev.rulesFor(webHost).map((r) => r.id)).not.toContain('demo/demo-down');
    expect(selects({ hosts: { id: 'web-1' } }, webHost)).toBe(true);
    expect(selects({ hosts: { role: 'web', env: 'prod' } }, webHost)).toBe(false);
  });

  it('gives each selected rule a verdict', async () => {
    const ev = new Evaluator(rules);
    const healthy = (await ev.evaluate(demoHost, factsOf(demoHost, sample()))).verdicts;
    expect(healthy.get('demo/demo-down')).toBe(false);
    expect(healthy.get('linux/root-disk-full')).toBe(false);
    const { verdicts: down } = await ev.evaluate(
      demoHost,
      factsOf(demoHost, sample({ service: { demo: { up: false, since: 1 } }, disk: { '/': { usedPercent: 98, freeBytes: 1, totalBytes: 2 } } })),
    );
    expect(down.get('demo/demo-down')).toBe(true);
    expect(down.get('linux/root-disk-full')).toBe(true);
    expect(down.get('linux/memory-pressure')).toBe(false);
  });

  it('treats a missing fact as not matching rather than failing', async () => {
    const ev = new Evaluator(rules);
    const out = (await ev.evaluate(demoHost, factsOf(demoHost, sample({ service: {}, disk: undefined, cpu: undefined })))).verdicts;
    expect(out.get('demo/demo-down')).toBe(false);
    expect(out.get('linux/cpu-saturated')).toBe(false);
  });
});

describe('wildcard conditions', () => {
  const when = { all: [{ fact: 'cert', path: '$.*.daysLeft', operator: 'lessThan', value: 14 }] };
  const certs = (site: number, api: number) => ({ cert: { site: { daysLeft: site }, api: { daysLeft: api } } });
  const rule = (name: string, w: unknown) => ({ id: `t/${name}`, name, when: w }) as unknown as Rule;
  const host = { id: 'h', labels: {} };

  it('hold when any key matches, and name the keys that do', async () => {
    const fn = compileCondition(when)!;
    expect(fn(certs(30, 40))).toBe(false);
    expect(fn(certs(3, 40))).toBe(true);
    expect(fn({ cert: {} })).toBe(false);
    const ev = new Evaluator([rule('cert', when)]);
    expect((await ev.evaluate(host, certs(3, 10))).matches.get('t/cert')).toEqual(['api', 'site']);
    expect((await ev.evaluate(host, certs(30, 10))).matches.get('t/cert')).toEqual(['api']);
    expect((await ev.evaluate(host, certs(30, 40))).matches.get('t/cert')).toBeUndefined();
  });

  it('under "not" mean that no key matches, and name nothing', async () => {
    const none = { not: { any: [{ fact: 'service', path: '$[*].up', operator: 'equal', value: false }] } };
    const fn = compileCondition(none)!;
    expect(fn({ service: { web: { up: true }, db: { up: true } } })).toBe(true);
    expect(fn({ service: { web: { up: true }, db: { up: false } } })).toBe(false);
    const ev = new Evaluator([rule('none', { any: [none, { fact: 'service', path: '$.*.up', operator: 'equal', value: true }] })]);
    const j = await ev.evaluate(host, { service: { web: { up: true }, db: { up: false } } });
    expect(j.verdicts.get('t/none')).toBe(true);
    expect(j.matches.get('t/none')).toEqual(['web']);
  });

  it('run compiled beside a rule the engine must run (a fact compared with a fact), each with its own verdict', async () => {
    const ev = new Evaluator([
      rule('cert', when),
      rule('load-over-cores', { all: [{ fact: 'cpu', path: '$.load1', operator: 'greaterThan', value: { fact: 'cpu', path: '$.load5' } }] }),
    ]);
    const { verdicts: out } = await ev.evaluate(
      host,
      factsOf(host, sample({ cert: { site: { daysLeft: 3, notAfter: 0, subject: 's' } }, cpu: { usage: 1, load1: 2, load5: 1, load15: 1 } })),
    );
    expect(out.get('t/cert')).toBe(true);
    expect(out.get('t/load-over-cores')).toBe(true);
    const { verdicts: calm } = await ev.evaluate(host, factsOf(host, sample({ cert: { site: { daysLeft: 90, notAfter: 0, subject: 's' } } })));
    expect(calm.get('t/cert')).toBe(false);
    expect(calm.get('t/load-over-cores')).toBe(false);
  });
});
