import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_TOKEN, Fleet } from '../helpers/fleet.js';
import { stopAll, waitFor } from '../helpers/procs.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { SimAgent } from '../helpers/sim-agent.js';

interface LogEntry {
  outcome: string;
  alerts: { host: string }[];
}

/** Text a person (or an attacker) might put where a regex goes: regex syntax, quotes, odd letters. */
const regexish = fc.string({
  unit: fc.constantFrom(
    'a',
    'b',
    'f',
    'z',
    '-',
    '.',
    '*',
    '+',
    '?',
    '(',
    ')',
    '[',
    ']',
    '{',
    '}',
    '|',
    '\\',
    '^',
    '$',
    '1',
    ',',
    '=',
    '!',
    '~',
    '"',
    ' ',
    'é',
    '\n',
    '\u0000',
    'P',
    '<',
    '>',
  ),
  maxLength: 24,
});
const labelName = fc.oneof(fc.constantFrom('host', 'alertname', 'severity', 'role', 'rule'), fc.string({ maxLength: 12 }));
const op = fc.constantFrom('=', '!=', '=~', '!~', '==', '~', '');
const matcherString = fc.oneof(
  fc.tuple(labelName, op, regexish).map(([n, o, v]) => `${n}${o}${v}`),
  fc.tuple(labelName, fc.constantFrom('=~', '!~'), regexish).map(([n, o, v]) => `${n}${o}"${v}"`),
  fc.string({ maxLength: 40 }),
);
const matcherObject = fc.record(
  {
    name: fc.oneof(labelName, fc.constant(''), fc.integer()),
    value: fc.oneof(regexish, regexish, fc.integer(), fc.constant(null)),
    isRegex: fc.oneof(fc.boolean(), fc.boolean(), fc.constant('yes')),
    isEqual: fc.oneof(fc.boolean(), fc.constant(0)),
    extra: fc.string({ maxLength: 3 }),
  },
  { requiredKeys: [] },
);
const matcher = fc.oneof(
  { weight: 4, arbitrary: matcherString },
  { weight: 4, arbitrary: matcherObject },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);
/** Well-formed matchers with a random value: the regex alone decides whether they pass. */
const plausible = fc.oneof(
  fc.tuple(fc.constantFrom('host', 'alertname', 'role'), fc.constantFrom('=', '!=', '=~', '!~'), regexish).map(([n, o, v]) => `${n}${o}${v}`),
  fc.record({ name: fc.constantFrom('host', 'alertname', 'role'), value: regexish, isRegex: fc.boolean(), isEqual: fc.boolean() }),
);
const silenceBody = fc
  .oneof(fc.array(plausible, { minLength: 1, maxLength: 2 }), fc.array(matcher, { maxLength: 5 }))
  .map((matchers) => ({ matchers, duration: '1h' }));

/**
 * Random matcher strings and objects at a real controller's API: each gets 201 or a 400 that
 * names the field, and every accepted silence is then applied to a firing alert (each round
 * fires one on a new host), so a matcher that passed the API but cannot be evaluated would
 * show here as a dead controller.
 */
describe('fuzzing silences at a real controller', () => {
  const fleet = new Fleet();
  let receiver: Receiver;
  const agents: SimAgent[] = [];

  beforeAll(async () => {
    receiver = await startReceiver();
    fleet.rule('web', 'svc-down', { when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] }, notify: ['ops'] });
    await fleet.startController({ receivers: { ops: { type: 'webhook', url: receiver.url } } });
  });

  afterAll(async () => {
    for (const a of agents) a.stop();
    await stopAll();
    await receiver?.close();
    await fleet.cleanup();
  });

  it('answers 201 or a 400 naming the field, and survives applying every accepted silence', async () => {
    const bodies = fc.sample(silenceBody, { numRuns: 240, seed: 16 });
    const outcomes = { created: 0, refused: 0 };
    const rounds = 12;
    for (let round = 0; round < rounds; round++) {
      for (const body of bodies.slice(round * 20, round * 20 + 20)) {
        const r = await fleet.fetch('/api/v1/silences', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        const answer = (await r.json()) as { error?: { code: string; message: string } };
        const seen = `${r.status} ${JSON.stringify(answer)} for ${JSON.stringify(body)}`;
        expect([201, 400], seen).toContain(r.status);
        if (r.status === 201) {
          outcomes.created++;
          continue;
        }
        outcomes.refused++;
        expect(answer.error?.code, seen).toBe('API_BAD_REQUEST');
        expect(answer.error?.message, seen).toMatch(/^request body \/matchers(\/\d+(\/(name|value|isRegex|isEqual))?)?: \S/);
      }
      // Every active silence is looked at when this host's alert is flushed.
      const host = `fz-${round}`;
      const a = new SimAgent(fleet.url, AGENT_TOKEN, host, { role: 'web' }, 60_000);
      a.services.svc = { up: true, since: Date.now() };
      agents.push(a);
      await a.connect();
      a.setService('svc', false);
      await waitFor(
        `the flush of ${host}'s alert`,
        async () => (await fleet.api<LogEntry[]>('/api/v1/notifications')).some((e) => e.alerts[0]?.host === host),
        10_000,
      );
      expect(fleet.controller!.child.exitCode).toBeNull();
    }
    // Both kinds were exercised.
    expect(outcomes.created).toBeGreaterThan(20);
    expect(outcomes.refused).toBeGreaterThan(20);
    expect((await fleet.fetch('/healthz')).status).toBe(200);
  }, 120_000);
});
