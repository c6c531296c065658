import fc from 'fast-check';
import { Engine, type TopLevelCondition } from 'json-rules-engine';
import { describe, expect, it } from 'vitest';
import { compileCondition } from '../../../../controller/rules/compile.js';
import { pathResolver } from '../../../../controller/rules/path.js';
import { OPERATORS } from '../../../../controller/rules/schema.js';

/** What json-rules-engine says of one condition tree on these facts: the verdict, or that it threw. */
async function engineVerdict(when: unknown, facts: Record<string, unknown>): Promise<boolean | 'throws'> {
  const engine = new Engine([], { allowUndefinedFacts: true, pathResolver });
  engine.addRule({ name: 'r', conditions: structuredClone(when) as TopLevelCondition, event: { type: 'r' } });
  try {
    const { results } = await engine.run(structuredClone(facts));
    return results.length === 1;
  } catch {
    return 'throws';
  }
}

function compiledVerdict(when: unknown, facts: Record<string, unknown>): boolean | 'throws' | 'not compiled' {
  const fn = compileCondition(when);
  if (!fn) return 'not compiled';
  try {
    // Real facts come from JSON.parse: plain objects, as structuredClone makes them.
    return fn(structuredClone(facts));
  } catch {
    return 'throws';
  }
}

const scalar = fc.oneof(
  fc.integer({ min: -5, max: 100 }),
  fc.double({ noNaN: false }),
  fc.constantFrom('5', 'x', '', 'up', '/'),
  fc.boolean(),
  fc.constant(null),
);
const value = fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.constant(undefined));
const leaf = fc
  .record({
    fact: fc.constantFrom('cpu', 'memory', 'disk', 'service', 'host', 'nope'),
    operator: fc.constantFrom(...OPERATORS),
    value: fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.constant('abc')),
    path: fc.option(fc.constantFrom('$.usage', "$['/'].usedPercent", '$.svc.up', '$.labels.role', '$.missing.deep', '$.list[1]'), { nil: undefined }),
  })
  .map(({ path, ...l }) => (path === undefined ? l : { ...l, path }));
const tree = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.record({ all: fc.array(tie('node'), { minLength: 1, maxLength: 3 }) }),
    fc.record({ any: fc.array(tie('node'), { minLength: 1, maxLength: 3 }) }),
    fc.record({ not: tie('node') }),
  ),
})).node;
const facts = fc.record({
  cpu: fc.oneof(fc.record({ usage: value, load1: value }), scalar, fc.constant(undefined)),
  memory: fc.oneof(fc.record({ usedPercent: value }), fc.constant(undefined)),
  disk: fc.dictionary(fc.constantFrom('/', '/var'), fc.record({ usedPercent: value })),
  service: fc.dictionary(fc.constantFrom('svc', 'db'), fc.record({ up: value, list: fc.array(scalar, { maxLength: 3 }) })),
  host: fc.record({
    id: fc.constant('h1'),
    labels: fc.dictionary(fc.constantFrom('role', 'env'), fc.constantFrom('web', 'db', 'prod')),
    up: fc.constant(true),
  }),
});

describe('compiled rule conditions', () => {
  it('give the verdict json-rules-engine gives (or throw where it throws), on random trees and facts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.record({ all: fc.array(tree, { minLength: 1, maxLength: 3 }) }), facts, async (when, f) => {
        expect(compiledVerdict(when, f)).toEqual(await engineVerdict(when, f));
      }),
      { numRuns: 600 },
    );
  });

  it('leaves a condition comparing against another fact to the engine', () => {
    expect(
      compileCondition({ all: [{ fact: 'cpu', path: '$.usage', operator: 'greaterThan', value: { fact: 'memory', path: '$.usedPercent' } }] }),
    ).toBeUndefined();
  });
});
