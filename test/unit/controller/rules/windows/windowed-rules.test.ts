import { describe, expect, it } from 'vitest';
import { Evaluator, type Judgement } from '../../../../../controller/rules/evaluate.js';
import type { Rule } from '../../../../../controller/rules/schema.js';

const rule = (name: string, leaf: Record<string, unknown>) => ({ id: `t/${name}`, name, when: { all: [leaf] } }) as unknown as Rule;
const host = { id: 'h', labels: {} };
const T0 = Date.parse('2026-01-01T00:00:00Z');
const S = 1000;
const M = 60 * S;

/** Feeds one sample per `every` from `from` to `to` (inclusive); returns the last judgement. */
async function feed(ev: Evaluator, from: number, to: number, every: number, facts: (t: number) => Record<string, unknown>): Promise<Judgement> {
  let last = await ev.evaluate(host, facts(from), T0 + from);
  for (let t = from + every; t <= to; t += every) last = await ev.evaluate(host, facts(t), T0 + t);
  return last;
}

describe('windowed conditions', () => {
  it('avg over 10m: not enough data until the window is full, then the average decides', async () => {
    const ev = new Evaluator([rule('cpu', { fact: 'cpu', path: '$.usage', over: '10m', fn: 'avg', operator: 'greaterThan', value: 90 })]);
    const cpu = (usage: number) => ({ cpu: { usage, load1: 0, load5: 0, load15: 0 } });
    let j = await feed(ev, 0, 9 * M, 10 * S, () => cpu(99));
    expect(j.verdicts.get('t/cpu')).toBe(false);
    expect(j.insufficient.has('t/cpu')).toBe(true);
    j = await feed(ev, 9 * M + 10 * S, 10 * M, 10 * S, () => cpu(99));
    expect(j.verdicts.get('t/cpu')).toBe(true);
    expect(j.insufficient.size).toBe(0);
    // one minute at 40 among nine at 99: the average (~93) still holds; four minutes at 40 bring it under
    j = await feed(ev, 10 * M + 10 * S, 11 * M, 10 * S, () => cpu(40));
    expect(j.verdicts.get('t/cpu')).toBe(true);
    j = await feed(ev, 11 * M + 10 * S, 14 * M, 10 * S, () => cpu(40));
    expect(j.verdicts.get('t/cpu')).toBe(false);
  });

  it('predict: a disk filling at a steady rate is predicted full 4 h ahead long before it is full, per mount under a wildcard', async () => {
    const ev = new Evaluator([rule('fills', { fact: 'disk', path: '$.*.freeBytes', over: '1h', fn: 'predict', ahead: '4h', operator: 'lessThan', value: 0 })]);
    // /data loses 1 MB a minute from 400 MB: empty after 400 min; / stays put.
    const disks = (t: number) => ({
      disk: {
        '/': { usedPercent: 50, freeBytes: 5e9, totalBytes: 1e10 },
        '/data': { usedPercent: 10, freeBytes: 400e6 - (t / M) * 1e6, totalBytes: 1e9 },
      },
    });
    let j = await feed(ev, 0, 60 * M, M, disks);
    // at 60 min: 340 MB left, 4 h more at 1 MB/min is 240 MB: not yet
    expect(j.verdicts.get('t/fills')).toBe(false);
    j = await feed(ev, 61 * M, 170 * M, M, disks);
    // at 170 min: 230 MB left, under 240 MB: fires, 230 minutes before it is full, naming /data only
    expect(j.verdicts.get('t/fills')).toBe(true);
    expect(j.matches.get('t/fills')).toEqual(['/data']);
  });

  it('absent: a check that stops reporting while the host still samples', async () => {
    const ev = new Evaluator([rule('stale', { fact: 'check', path: '$.*.status', over: '5m', fn: 'absent', operator: 'equal', value: true })]);
    const checks = (names: string[]) => ({
      check: Object.fromEntries(names.map((n) => [n, { status: 0, state: 'ok', output: '', perf: {}, durationMs: 1, at: 0 }])),
    });
    let j = await feed(ev, 0, 10 * M, 30 * S, () => checks(['disk', 'load']));
    expect(j.verdicts.get('t/stale')).toBe(false);
    // "load" stops: absent only once five minutes pass without it
    j = await feed(ev, 10 * M + 30 * S, 14 * M, 30 * S, () => checks(['disk']));
    expect(j.verdicts.get('t/stale')).toBe(false);
    j = await feed(ev, 14 * M + 30 * S, 15 * M + 30 * S, 30 * S, () => checks(['disk']));
    expect(j.verdicts.get('t/stale')).toBe(true);
    expect(j.matches.get('t/stale')).toEqual(['load']);
  });

  it('absent does not fire for a path the controller has not watched for a whole window (after a restart)', async () => {
    const ev = new Evaluator([rule('gone', { fact: 'service', path: '$.web.up', over: '5m', fn: 'absent', operator: 'equal', value: true })]);
    await ev.evaluate(host, { service: { web: { up: true, since: 0 } } }, T0);
    const j = await feed(ev, 30 * S, 4 * M, 30 * S, () => ({ service: {} }));
    expect(j.verdicts.get('t/gone')).toBe(false);
    expect(j.insufficient.has('t/gone')).toBe(true);
    expect((await feed(ev, 4 * M + 30 * S, 5 * M, 30 * S, () => ({ service: {} }))).verdicts.get('t/gone')).toBe(true);
    // a path that never had a value on this host has no data rather than too little: not flagged
    const never = new Evaluator([rule('gone', { fact: 'service', path: '$.web.up', over: '5m', fn: 'absent', operator: 'equal', value: true })]);
    const n = await feed(never, 0, 4 * M, 30 * S, () => ({ service: {} }));
    expect(n.verdicts.get('t/gone')).toBe(false);
    expect(n.insufficient.size).toBe(0);
  });

  it('a gap longer than the window (host silent, controller stopped, clock jump) starts the window again', async () => {
    const ev = new Evaluator([rule('cpu', { fact: 'cpu', path: '$.usage', over: '5m', fn: 'max', operator: 'greaterThan', value: 90 })]);
    const cpu = (usage: number) => ({ cpu: { usage, load1: 0, load5: 0, load15: 0 } });
    expect((await feed(ev, 0, 5 * M, 10 * S, () => cpu(95))).verdicts.get('t/cpu')).toBe(true);
    // an hour later: not "still above 90 over 5 minutes" on one sample
    const j = await ev.evaluate(host, cpu(95), T0 + 65 * M);
    expect(j.verdicts.get('t/cpu')).toBe(false);
    expect(j.insufficient.has('t/cpu')).toBe(true);
  });

  it('changes: a service flapping, and rate with a counter reset', async () => {
    const ev = new Evaluator([
      rule('flap', { fact: 'service', path: '$.web.up', over: '10m', fn: 'changes', operator: 'greaterThanInclusive', value: 4 }),
      rule('retrans', { fact: 'metric', path: "$.node['node_netstat_Tcp_RetransSegs']", over: '10m', fn: 'rate', operator: 'greaterThan', value: 5 }),
    ]);
    let counter = 0;
    const facts = (t: number) => {
      counter = t === 5 * M ? 0 : counter + 600; // 10/s, reset once inside the window: the rate stays 8.9/s, not negative
      return { service: { web: { up: Math.floor(t / M) % 2 === 0, since: 0 } }, metric: { node: { node_netstat_Tcp_RetransSegs: counter } } };
    };
    const j = await feed(ev, 0, 12 * M, M, facts);
    expect(j.verdicts.get('t/flap')).toBe(true);
    expect(j.verdicts.get('t/retrans')).toBe(true);
    const calm = new Evaluator([rule('flap', { fact: 'service', path: '$.web.up', over: '10m', fn: 'changes', operator: 'greaterThanInclusive', value: 4 })]);
    expect((await feed(calm, 0, 12 * M, M, () => ({ service: { web: { up: true, since: 0 } } }))).verdicts.get('t/flap')).toBe(false);
  });

  it('thins a long window read only by functions a thinned series answers alike, and keeps every sample for changes', async () => {
    const up = { fact: 'service', path: '$.web.up', over: '6h', fn: 'avg', operator: 'lessThan', value: 0.5 };
    const facts = (t: number) => ({ service: { web: { up: Math.floor(t / (10 * S)) % 2 === 0, since: 0 } } });
    const thinned = new Evaluator([rule('avg', up)]);
    await feed(thinned, 0, 6 * 60 * M, 10 * S, facts);
    expect(thinned.windows.stats().points).toBeLessThanOrEqual(2 * 360 + 2);
    const exact = new Evaluator([rule('avg', up), rule('flaps', { ...up, fn: 'changes', operator: 'greaterThan', value: 1000 })]);
    const j = await feed(exact, 0, 6 * 60 * M, 10 * S, facts);
    expect(exact.windows.stats().points).toBe(6 * 360);
    // 2,160 samples alternating: 2,159 changes, all seen
    expect(j.verdicts.get('t/flaps')).toBe(true);
  });

  it('a rule reload keeps the windows of the paths still read', async () => {
    const r = rule('cpu', { fact: 'cpu', path: '$.usage', over: '5m', fn: 'min', operator: 'greaterThan', value: 90 });
    const first = new Evaluator([r]);
    await feed(first, 0, 5 * M, 10 * S, () => ({ cpu: { usage: 95, load1: 0, load5: 0, load15: 0 } }));
    const second = new Evaluator([r], first.windows);
    expect((await second.evaluate(host, { cpu: { usage: 95, load1: 0, load5: 0, load15: 0 } }, T0 + 5 * M + 10 * S)).verdicts.get('t/cpu')).toBe(true);
  });
});
