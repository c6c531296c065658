import { describe, expect, it } from 'vitest';
import { CHECK_CHARS, MAX_LINE_CHARS, parseExposition, parseValue } from '../../../../agent/sources/scrape/parse.js';
import { SeriesSet, seriesKey } from '../../../../agent/sources/scrape/series.js';
import { check, metricSourceFacts } from '../../../../protocol/index.js';

/** Every sample of a body, as `key value` lines (NaN and ±Inf as JavaScript writes them). */
async function samples(body: string, openMetrics = false): Promise<string[]> {
  const out: string[] = [];
  await parseExposition(body, (n, l, v) => out.push(`${seriesKey(n, l)} ${v}`), { openMetrics });
  return out;
}

describe('the exposition parser (text 0.0.4)', () => {
  it('reads the format reference example: comments, HELP, TYPE, escapes, timestamps, NaN/Inf, histograms and summaries', async () => {
    const body = [
      '# HELP http_requests_total The total number of HTTP requests.',
      '# TYPE http_requests_total counter',
      'http_requests_total{method="post",code="200"} 1027 1395066363000',
      'http_requests_total{method="post",code="400"}    3 1395066363000',
      '',
      '# Escaping in label values:',
      'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9',
      'metric_without_timestamp_and_labels 12.47',
      'something_weird{problem="division by zero"} +Inf -3982045',
      'not_a_number NaN',
      '# TYPE http_request_duration_seconds histogram',
      'http_request_duration_seconds_bucket{le="0.05"} 24054',
      'http_request_duration_seconds_bucket{le="+Inf"} 144320',
      'http_request_duration_seconds_sum 53423',
      'http_request_duration_seconds_count 144320',
      '# TYPE rpc_duration_seconds summary',
      'rpc_duration_seconds{quantile="0.5"} 4773',
      'rpc_duration_seconds_count 2693',
      'trailing_comma{a="1",} 1',
      'spaced { a = "1" , b="2" } 2',
      'empty_set{} 3',
      'unknown_escape{a="x\\ty"} 4',
      'crlf 5\r',
    ].join('\n');
    expect(await samples(body)).toEqual([
      'http_requests_total{code="200",method="post"} 1027',
      'http_requests_total{code="400",method="post"} 3',
      'msdos_file_access_time_seconds{error="Cannot find file:\\n\\"FILE.TXT\\"",path="C:\\\\DIR\\\\FILE.TXT"} 1458255915',
      'metric_without_timestamp_and_labels 12.47',
      'something_weird{problem="division by zero"} Infinity',
      'not_a_number NaN',
      'http_request_duration_seconds_bucket{le="0.05"} 24054',
      'http_request_duration_seconds_bucket{le="+Inf"} 144320',
      'http_request_duration_seconds_sum 53423',
      'http_request_duration_seconds_count 144320',
      'rpc_duration_seconds{quantile="0.5"} 4773',
      'rpc_duration_seconds_count 2693',
      'trailing_comma{a="1"} 1',
      'spaced{a="1",b="2"} 2',
      'empty_set 3',
      'unknown_escape{a="x\\\\ty"} 4',
      'crlf 5',
    ]);
  });

  it('decodes the three escapes of a label value', async () => {
    const got: string[] = [];
    await parseExposition('m{a="q\\"b\\\\s\\nn"} 1\n', (_n, l) => got.push(l[0][1]));
    expect(got).toEqual(['q"b\\s\nn']);
  });

  it('reads the value forms Go writes', () => {
    expect([parseValue('1'), parseValue('-1.5e3'), parseValue('.5'), parseValue('+Inf'), parseValue('-Inf'), parseValue('NaN')]).toEqual([
      1,
      -1500,
      0.5,
      Infinity,
      -Infinity,
      NaN,
    ]);
    expect([parseValue('1,5'), parseValue('0x10'), parseValue(''), parseValue('one')]).toEqual([undefined, undefined, undefined, undefined]);
  });

  // Each fails the whole body, with its line number (as Prometheus fails the scrape).
  it.each([
    ['a metric name starting with a digit', 'ok 1\n9lives 1', 'line 2: expected a metric name'],
    ['no value', 'm{a="1"}', 'line 1: m: expected a blank before the value'],
    ['a value that is no number', 'm one', 'line 1: m: "one" is not a number'],
    ['three fields', 'm 1 2 3', 'line 1: m: expected a value and at most a timestamp'],
    ['a float timestamp in text 0.0.4', 'm 1 1.5', 'line 1: m: "1.5" is not a timestamp'],
    ['an unclosed label value', 'm{a="1} 1', 'line 1: m: label a has no closing quote'],
    ['an unquoted label value', 'm{a=1} 1', 'line 1: m: expected a quoted value for label a'],
    ['a label given twice', 'm{a="1",a="2"} 1', 'line 1: m: label a given twice'],
    ['a bad label name', 'm{1a="1"} 1', 'line 1: m: expected a label name'],
    ['labels not separated', 'm{a="1" b="2"} 1', 'line 1: m: expected "," or "}" after label a'],
    ['an unknown TYPE', '# TYPE m countr\nm 1', 'line 1: # TYPE m: unknown type "countr"'],
    ['TYPE given twice', '# TYPE m gauge\n# TYPE m gauge', 'line 2: # TYPE m given twice'],
    ['HTML', '<html><body>Not Found</body></html>', 'line 1: expected a metric name'],
  ])('refuses %s', async (_what, body, message) => {
    await expect(parseExposition(body, () => {})).rejects.toThrow(message);
  });

  it('gives the event loop a turn within a body of a few long lines, not only after many lines', async () => {
    // 20 lines of 40 KiB: fewer lines than the parser counts between reads of the clock, but far
    // more characters than CHECK_CHARS, so it must have read the clock (and, with sliceMs 0,
    // yielded) before the last line.
    const value = 'x'.repeat(40 * 1024);
    const body = Array.from({ length: 20 }, (_, i) => `m{i="${i}",v="${value}"} ${i}\n`).join('');
    expect(body.length).toBeGreaterThan(20 * CHECK_CHARS);
    let turned = false;
    setImmediate(() => (turned = true));
    const turnedAt: boolean[] = [];
    const r = await parseExposition(body, () => turnedAt.push(turned), { sliceMs: 0 });
    expect(r.samples).toBe(20);
    expect(turnedAt[0]).toBe(false);
    expect(turnedAt.at(-1)).toBe(true);
  });

  it('skips a line too long to parse, counts it, and reads on', async () => {
    const huge = `m{a="${'x'.repeat(MAX_LINE_CHARS)}"} 1`;
    const seen: string[] = [];
    const r = await parseExposition(`before 1\n${huge}\nafter 2\n`, (n) => seen.push(n));
    expect(seen).toEqual(['before', 'after']);
    expect(r).toEqual({ samples: 2, longLines: 1 });
  });
});

describe('the exposition parser (OpenMetrics)', () => {
  it('reads UNIT, exemplars, float timestamps and the OpenMetrics types, up to # EOF', async () => {
    const body = [
      '# TYPE acme_http_router_request_seconds summary',
      '# UNIT acme_http_router_request_seconds seconds',
      '# HELP acme_http_router_request_seconds Latency.',
      'acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32',
      'acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0 1520430000.123',
      '# TYPE foo histogram',
      'foo_bucket{le="0.1"} 8 # {trace_id="KOO5S4vxi0o"} 0.67',
      '# TYPE build info',
      'build_info{version="1.2"} 1',
      '# EOF',
      '',
    ].join('\n');
    expect(await samples(body, true)).toEqual([
      'acme_http_router_request_seconds_sum{method="GET",path="/api/v1"} 9036.32',
      'acme_http_router_request_seconds_count{method="GET",path="/api/v1"} 807283',
      'foo_bucket{le="0.1"} 8',
      'build_info{version="1.2"} 1',
    ]);
  });

  it.each([
    ['a body without # EOF (cut short)', 'm 1\n', 'no # EOF at the end'],
    ['text after # EOF', 'm 1\n# EOF\nm 2\n', 'line 3: text after # EOF (line 2)'],
    ['a blank line', 'm 1\n\n# EOF\n', 'line 2: blank line'],
    ['a free comment', '# just a note\n# EOF\n', 'line 1: expected # HELP, # TYPE, # UNIT or # EOF'],
  ])('refuses %s', async (_what, body, message) => {
    await expect(parseExposition(body, () => {}, { openMetrics: true })).rejects.toThrow(message);
  });
});

describe('series of one source', () => {
  const limits = { maxSeries: 3, maxBytes: 65_536 };

  it('keys series as Prometheus writes them, labels sorted, no braces without labels', () => {
    expect(seriesKey('up', [])).toBe('up');
    expect(
      seriesKey('m', [
        ['z', '1'],
        ['a', 'x"y\\z\nw'],
      ]),
    ).toBe('m{a="x\\"y\\\\z\\nw",z="1"}');
  });

  it('drops NaN and Inf, keeps the first of a duplicate, and counts both', () => {
    const set = new SeriesSet(limits);
    set.add('a', [], 1);
    set.add('a', [], 2);
    set.add('nan', [], NaN);
    set.add('inf', [['x', '1']], Infinity);
    expect(set.result()).toEqual({ a: 1 });
    expect(set.drops).toEqual({ nonFinite: 2, duplicate: 1, oversize: 0, cap: 0 });
  });

  it('keeps the same first series in key order, whatever order the exporter writes them in', () => {
    const names = ['e', 'b', 'd', 'a', 'c'];
    const one = new SeriesSet(limits);
    const two = new SeriesSet(limits);
    names.forEach((n, i) => one.add(n, [], i));
    [...names].reverse().forEach((n) => two.add(n, [], names.indexOf(n)));
    expect(Object.keys(one.result())).toEqual(['a', 'b', 'c']);
    expect(two.result()).toEqual(one.result());
    expect(one.drops.cap).toBe(2);
  });

  it('keeps exactly what sorting every candidate would keep, for any order, caps and duplicates', () => {
    // The reference: every finite candidate sorted, then the prefix that fits maxSeries and maxBytes.
    let seed = 7;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 200; round++) {
      const limits = { maxSeries: 1 + Math.floor(random() * 40), maxBytes: 200 + Math.floor(random() * 2000) };
      const set = new SeriesSet(limits);
      const first = new Map<string, number>();
      const n = Math.floor(random() * 120);
      for (let i = 0; i < n; i++) {
        const name = `m${Math.floor(random() * 60)}`;
        const value = random() < 0.05 ? NaN : Math.floor(random() * 1000);
        set.add(name, [], value);
        if (!first.has(name)) first.set(name, value);
      }
      const keys = [...first.keys()].filter((k) => Number.isFinite(first.get(k))).sort();
      const expected: Record<string, number> = {};
      let bytes = 0;
      for (const k of keys) {
        const cost = k.length + String(first.get(k)).length + 4;
        if (Object.keys(expected).length >= limits.maxSeries || bytes + cost > limits.maxBytes) break;
        expected[k] = first.get(k)!;
        bytes += cost;
      }
      expect(Object.entries(set.result())).toEqual(Object.entries(expected));
      expect(set.drops.cap).toBe(keys.length - Object.keys(expected).length);
    }
  });

  it('caps by bytes too', () => {
    const set = new SeriesSet({ maxSeries: 100, maxBytes: 1024 });
    for (let i = 0; i < 100; i++) set.add(`series_with_a_rather_long_name_${String(i).padStart(3, '0')}`, [], i);
    const kept = Object.keys(set.result()).length;
    expect(kept).toBeGreaterThan(10);
    expect(kept).toBeLessThan(100);
    expect(set.drops.cap).toBe(100 - kept);
    expect(JSON.stringify(set.result()).length).toBeLessThanOrEqual(1024);
  });

  it('drops gigantic label sets and keys the fact schema would refuse', () => {
    const set = new SeriesSet(limits);
    set.add(
      'many',
      Array.from({ length: 65 }, (_, i) => [`l${i}`, 'v'] as const),
      1,
    );
    set.add('long', [['a', 'x'.repeat(2000)]], 1);
    set.add('nul', [['a', 'x\0y']], 1);
    set.add('fine', [['a', 'é "quoted"']], 1);
    const result = set.result();
    expect(result).toEqual({ 'fine{a="é \\"quoted\\""}': 1 });
    expect(set.drops.oversize).toBe(3);
    expect(check(metricSourceFacts, result).ok).toBe(true);
  });

  it('keeps only the names a match list asks for, without counting the rest as drops', () => {
    const set = new SeriesSet({ ...limits, match: [/^(?:nginx_.*)$/] });
    set.add('nginx_up', [], 1);
    set.add('go_goroutines', [], 7);
    expect(set.result()).toEqual({ nginx_up: 1 });
    expect(set.drops).toEqual({ nonFinite: 0, duplicate: 0, oversize: 0, cap: 0 });
  });
});
