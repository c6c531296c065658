import { beforeEach, describe, expect, it } from 'vitest';
import { Breakers } from '../../../../controller/heal/breaker.js';
import { BRAKES, judge, type Brake, type BrakeContext, type BrakeFacts } from '../../../../controller/heal/brakes/index.js';
import { breaker } from '../../../../controller/heal/brakes/breaker.js';
import { busy } from '../../../../controller/heal/brakes/busy.js';
import { cooldown } from '../../../../controller/heal/brakes/cooldown.js';
import { flapping } from '../../../../controller/heal/brakes/flapping.js';
import { fleetLimit } from '../../../../controller/heal/brakes/fleet-limit.js';
import { maintenance } from '../../../../controller/heal/brakes/maintenance.js';
import { maxConcurrent } from '../../../../controller/heal/brakes/max-concurrent.js';
import { maxPerHour } from '../../../../controller/heal/brakes/max-per-hour.js';
import { paused } from '../../../../controller/heal/brakes/paused.js';
import { Starts } from '../../../../controller/heal/starts.js';
import type { AlertRecord, HealRecord, PauseState } from '../../../../controller/model.js';
import { ruleSchema, type Rule } from '../../../../controller/rules/schema.js';
import { silentLogger } from '../../../../protocol/index.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const S = 1000;
const MIN = 60 * S;

function mkRule(heal: Record<string, unknown> = {}): Rule {
  const file = ruleSchema.parse({
    name: 'svc-down',
    when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] },
    flap: { window: '5m', changes: 4 },
    heal: { action: 'service.restart', params: { service: 'svc' }, ...heal },
  });
  return { ...file, id: 'web/svc-down', namespace: 'web', file: 'x.json', effectiveMode: 'enforce' };
}

const order = (id: string, rule: string, host: string): HealRecord => ({ id, rule, host, state: 'dispatched' }) as HealRecord;

/** What the heal service would tell the brakes, as plain data a test sets. */
interface World {
  pause: PauseState | null;
  holds: Map<string, string>;
  breakers: Breakers;
  saves: number;
  starts: Starts;
  /** Work orders open or under way on this controller. */
  open: HealRecord[];
  selected: number;
  fleet: number;
  fleetLimit?: number | string;
}

function factsOf(w: World): BrakeFacts {
  return {
    paused: () => w.pause,
    hold: (_rule, host) => w.holds.get(host) ?? null,
    breakers: () => w.breakers,
    saveBreakers: async () => {
      w.saves++;
    },
    starts: w.starts,
    openFor: (rule, host, except) => w.open.find((o) => o.rule === rule && o.host === host && o.id !== except),
    healing: (match, except) => [...new Set(w.open.filter((o) => match(o) && o.host !== except).map((o) => o.host))].sort(),
    hostsSelected: () => w.selected,
    fleetSize: () => w.fleet,
    get fleetLimit() {
      return w.fleetLimit;
    },
    log: silentLogger,
  };
}

describe('heal brakes', () => {
  let w: World;
  let rule: Rule;
  const ctx = (extra: Partial<BrakeContext> = {}): BrakeContext => ({ rule, heal: rule.heal!, host: 'h1', now: T0, order: 'w9', inFlight: [], ...extra });
  const check = (brake: Brake, extra: Partial<BrakeContext> = {}) => brake.check(ctx(extra), factsOf(w));

  beforeEach(() => {
    rule = mkRule();
    w = { pause: null, holds: new Map(), breakers: new Breakers(), saves: 0, starts: new Starts(), open: [], selected: 4, fleet: 10 };
  });

  it('are asked in this order, the first that stops a heal giving the verdict', () => {
    expect(BRAKES.map((b) => b.kind)).toEqual([
      'busy',
      'paused',
      'maintenance',
      'flapping',
      'breaker',
      'cooldown',
      'max-per-hour',
      'max-concurrent',
      'fleet-limit',
    ]);
    expect(BRAKES.map((b) => b.stops)).toEqual(['skip', 'skip', 'skip', 'skip', 'skip', 'skip', 'skip', 'defer', 'defer']);
    expect(new Set(BRAKES).size).toBe(BRAKES.length);
  });

  it('let a heal through when no brake objects', () => {
    expect(judge(ctx(), factsOf(w))).toEqual({ verdict: { outcome: 'allow' } });
  });

  it('busy: one work order per rule and host at a time (the order being decided does not count)', () => {
    w.open = [order('w9', rule.id, 'h1'), order('w2', rule.id, 'h2'), order('w3', 'web/other', 'h1')];
    expect(check(busy)).toBeUndefined();
    w.open.push(order('w1', rule.id, 'h1'));
    expect(check(busy)).toBe('work order w1 for web/svc-down on h1 is still open');
    const { verdict, brake } = judge(ctx(), factsOf(w));
    expect(verdict).toEqual({ outcome: 'skip', kind: 'busy', reason: 'work order w1 for web/svc-down on h1 is still open' });
    expect(brake).toBe(busy);
  });

  it('paused: no automatic heal anywhere while laas pause holds, with who and why', () => {
    expect(check(paused)).toBeUndefined();
    w.pause = { by: 'alice', at: '2026-01-01T00:00:00.000Z', reason: 'db migration' };
    expect(judge(ctx(), factsOf(w)).verdict).toEqual({
      outcome: 'skip',
      kind: 'paused',
      reason: 'heals are paused fleet-wide by alice since 2026-01-01T00:00:00.000Z (db migration); resume with: laas resume',
    });
    w.pause = { by: 'bob', at: '2026-01-01T00:00:00.000Z', reason: '' };
    expect(check(paused)).toBe('heals are paused fleet-wide by bob since 2026-01-01T00:00:00.000Z; resume with: laas resume');
  });

  it("maintenance: a window or heal-pausing silence on the host holds its heals, with the hold's own reason", () => {
    w.holds.set('h2', 'maintenance window "patching" until 02:00');
    expect(check(maintenance)).toBeUndefined();
    w.holds.set('h1', 'maintenance window "patching" until 02:00');
    expect(judge(ctx(), factsOf(w)).verdict).toEqual({ outcome: 'skip', kind: 'maintenance', reason: 'maintenance window "patching" until 02:00' });
  });

  it('flapping: a fault that keeps coming and going is left to people, and they are told', () => {
    const alert = { id: 'a1', rule: rule.id, host: 'h1', flapping: false } as AlertRecord;
    expect(check(flapping, { alert })).toBeUndefined();
    expect(check(flapping)).toBeUndefined(); // a scheduled run has no alert
    const v = judge(ctx({ alert: { ...alert, flapping: true } }), factsOf(w));
    expect(v.verdict).toEqual({
      outcome: 'skip',
      kind: 'flapping',
      reason: 'flapping: the condition of web/svc-down on h1 changed 4 times or more within 300s, so automatic heals wait until it settles; look at it by hand',
    });
    expect(v.brake?.notice).toBe('flapping');
  });

  it('breaker: an open breaker stops heals on that host, and says how it closes', async () => {
    const cfg = rule.heal!.breaker;
    expect(cfg).toEqual({ failures: 3, window: 3_600_000, resetAfter: 1_800_000 });
    for (let i = 0; i < 2; i++) w.breakers.recordFailure(rule.id, 'h1', T0 - 10 * MIN + i, cfg);
    expect(check(breaker)).toBeUndefined();
    w.breakers.recordFailure(rule.id, 'h1', T0 - 10 * MIN + 2, cfg);
    expect(judge(ctx(), factsOf(w)).verdict).toEqual({
      outcome: 'skip',
      kind: 'breaker',
      reason: `circuit breaker open for web/svc-down on h1 since ${new Date(T0 - 10 * MIN + 2).toISOString()}; it closes after 1800s without the fault, or reset it: laas breakers reset web/svc-down h1`,
    });
    expect(check(breaker, { host: 'h2' })).toBeUndefined();
    // Stopped while the fault is back: the healthy period starts again, and is saved.
    await breaker.stopped!(ctx({ now: T0 }), factsOf(w));
    expect(w.saves).toBe(1);
    expect(check(breaker, { now: T0 - 10 * MIN + 2 + cfg.resetAfter })).toBeDefined();
    // Healthy for resetAfter since then: the breaker closes and lets the heal through.
    expect(check(breaker, { now: T0 + cfg.resetAfter })).toBeUndefined();
    expect(w.breakers.openCount()).toBe(0);
  });

  it('cooldown: the least time between two heals of the rule on a host', () => {
    rule = mkRule({ cooldown: '10m' });
    w.starts.record(rule.id, 'h1', T0 - 4 * MIN);
    expect(check(cooldown, { host: 'h2' })).toBeUndefined();
    expect(judge(ctx(), factsOf(w)).verdict).toEqual({
      outcome: 'skip',
      kind: 'cooldown',
      reason: 'cooldown 600s: the last heal of web/svc-down on h1 started 240s ago',
    });
    expect(check(cooldown, { now: T0 + 6 * MIN - 1 })).toBeDefined();
    expect(check(cooldown, { now: T0 + 6 * MIN })).toBeUndefined();
    rule = mkRule(); // no cooldown set: back-to-back heals are the other brakes' business
    expect(check(cooldown)).toBeUndefined();
  });

  it('max-per-hour: heals of the rule on a host per sliding hour', () => {
    rule = mkRule({ maxPerHour: 2 });
    w.starts.record(rule.id, 'h1', T0 - 50 * MIN);
    expect(check(maxPerHour)).toBeUndefined();
    w.starts.record(rule.id, 'h1', T0 - 20 * MIN);
    expect(check(maxPerHour, { host: 'h2' })).toBeUndefined();
    expect(judge(ctx(), factsOf(w)).verdict).toEqual({
      outcome: 'skip',
      kind: 'max-per-hour',
      reason: `maxPerHour 2 reached for web/svc-down on h1 (2 in the last hour); next allowed after ${new Date(T0 + 10 * MIN).toISOString()}`,
    });
    expect(check(maxPerHour, { now: T0 + 10 * MIN })).toBeUndefined();
  });

  it('max-concurrent: hosts the rule heals at once, here and on other controllers; the rest wait (defer)', () => {
    rule = mkRule({ maxConcurrent: '50%' }); // of 4 selected hosts: 2
    w.open = [order('w1', rule.id, 'h2'), order('w2', 'web/other', 'h3'), order('w3', 'web/other', 'h4')];
    expect(check(maxConcurrent)).toBeUndefined();
    // The same host elsewhere is not a second slot; another host on another controller is.
    expect(
      check(maxConcurrent, {
        inFlight: [
          { host: 'h1', rule: rule.id },
          { host: 'h2', rule: rule.id },
        ],
      }),
    ).toBeUndefined();
    const full = ctx({ inFlight: [{ host: 'h5', rule: rule.id }] });
    expect(judge(full, factsOf(w)).verdict).toEqual({
      outcome: 'defer',
      kind: 'max-concurrent',
      reason: 'maxConcurrent 50% (2 of 4 hosts) reached for web/svc-down: healing h2, h5; retried when one finishes',
    });
    rule = mkRule({ maxConcurrent: 1 });
    w.selected = 1;
    expect(check(maxConcurrent)).toBe('maxConcurrent 1 (1 of 1 host) reached for web/svc-down: healing h2; retried when one finishes');
  });

  it('fleet-limit: hosts under heal at once across all rules, only when configured (defer)', () => {
    rule = mkRule({ maxConcurrent: 100 });
    w.open = [order('w1', 'web/a', 'h2'), order('w2', 'web/b', 'h2'), order('w3', 'web/c', 'h1')];
    expect(check(fleetLimit, { inFlight: [{ host: 'h3', rule: 'x/y' }] })).toBeUndefined(); // unset
    w.fleetLimit = '20%'; // of 10 hosts: 2
    expect(check(fleetLimit)).toBeUndefined();
    const full = ctx({
      inFlight: [
        { host: 'h3', rule: 'db/z' },
        { host: 'h1', rule: 'db/z' },
      ],
    });
    expect(judge(full, factsOf(w)).verdict).toEqual({
      outcome: 'defer',
      kind: 'fleet-limit',
      reason: 'fleet-wide limit 20% (2 of 10 hosts) reached: healing h2, h3; retried when one finishes',
    });
    w.fleetLimit = 3;
    expect(check(fleetLimit, full)).toBeUndefined();
  });

  it('a skipping brake earlier in the order wins over a deferring one later', () => {
    rule = mkRule({ maxConcurrent: 1 });
    w.open = [order('w1', rule.id, 'h2')];
    w.pause = { by: 'alice', at: 'then', reason: '' };
    expect(judge(ctx(), factsOf(w)).verdict).toMatchObject({ outcome: 'skip', kind: 'paused' });
    w.pause = null;
    expect(judge(ctx(), factsOf(w)).verdict).toMatchObject({ outcome: 'defer', kind: 'max-concurrent' });
  });

  it('stop asking at the first brake that objects (later brakes are not consulted)', () => {
    const asked: string[] = [];
    const spy = (kind: Brake['kind'], says?: string): Brake => ({
      kind,
      stops: 'skip',
      check: () => {
        asked.push(kind);
        return says;
      },
    });
    const v = judge(ctx(), factsOf(w), [spy('busy'), spy('paused', 'paused'), spy('cooldown', 'cooling')]);
    expect(v.verdict).toEqual({ outcome: 'skip', kind: 'paused', reason: 'paused' });
    expect(asked).toEqual(['busy', 'paused']);
  });
});
