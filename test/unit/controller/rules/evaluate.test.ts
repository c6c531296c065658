import { describe, expect, it } from 'vitest';
import { Evaluator, factsOf, selects } from '../../../../controller/rules/evaluate.js';
import { loadRules } from '../../../../controller/rules/load.js';
import { parsePath, pathResolver } from '../../../../controller/rules/path.js';
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
    expect(parsePath('$[*]')).toMatch(/wildcards are not supported/);
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
    const healthy = await ev.evaluate(demoHost, factsOf(demoHost, sample()));
    expect(healthy.get('demo/demo-down')).toBe(false);
    expect(healthy.get('system/root-disk-full')).toBe(false);
    const down = await ev.evaluate(
      demoHost,
      factsOf(demoHost, sample({ service: { demo: { up: false, since: 1 } }, disk: { '/': { usedPercent: 98, freeBytes: 1, totalBytes: 2 } } })),
    );
    expect(down.get('demo/demo-down')).toBe(true);
    expect(down.get('system/root-disk-full')).toBe(true);
    expect(down.get('system/memory-pressure')).toBe(false);
  });

  it('treats a missing fact as not matching rather than failing', async () => {
    const ev = new Evaluator(rules);
    const out = await ev.evaluate(demoHost, factsOf(demoHost, sample({ service: {}, disk: undefined, cpu: undefined })));
    expect(out.get('demo/demo-down')).toBe(false);
    expect(out.get('system/cpu-saturated')).toBe(false);
  });
});
