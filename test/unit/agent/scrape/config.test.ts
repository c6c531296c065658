import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { scrapeConfig } from '../../../../agent/sources/scrape/config.js';

const issues = (input: unknown) => {
  const r = v.safeParse(scrapeConfig, input);
  return r.success ? [] : r.issues.map((i) => `${(i.path ?? []).map((p) => String(p.key)).join('/')}: ${i.message}`);
};

describe('the "scrape" section of agent.json', () => {
  it('fills defaults: 15s interval, 5s timeout (or the interval if shorter), 500 series', () => {
    const [a, b] = v.parse(scrapeConfig, [
      { name: 'nginx', url: 'http://127.0.0.1:9113/metrics' },
      { name: 'jobs', textfile: '/var/lib/prometheus/node-exporter', interval: '2s' },
    ]);
    expect(a).toMatchObject({ interval: 15_000, timeout: 5000, maxSeries: 500, maxBytes: 65_536, maxBodyBytes: 8 * 1024 * 1024 });
    expect(b).toMatchObject({ interval: 2000, timeout: 2000 });
  });

  it.each([
    ['neither url nor textfile', [{ name: 'x' }], '0: expected exactly one of "url" and "textfile"'],
    ['both', [{ name: 'x', url: 'http://a/m', textfile: '/d' }], '0: expected exactly one of "url" and "textfile"'],
    ['a non-http URL', [{ name: 'x', url: 'ftp://a/m' }], '0/url: expected an http:// or https:// URL'],
    ['a relative directory', [{ name: 'x', textfile: 'prom' }], '0/textfile: expected an absolute directory path'],
    ['a timeout over the interval', [{ name: 'x', url: 'http://a/m', interval: '2s', timeout: '3s' }], '0/timeout: timeout must not exceed interval'],
    ['a bad regular expression', [{ name: 'x', url: 'http://a/m', match: ['nginx_('] }], '0/match/0: not a valid regular expression: "nginx_("'],
    [
      'a duplicate name',
      [
        { name: 'x', url: 'http://a/m' },
        { name: 'x', url: 'http://b/m' },
      ],
      '1/name: duplicate scrape name "x" (first at /scrape/0)',
    ],
    ['more series than the fact holds', [{ name: 'x', url: 'http://a/m', maxSeries: 5000 }], '0/maxSeries: expected a whole number from 1 to 4800'],
    [
      'byte budgets over what a sample has room for',
      Array.from({ length: 9 }, (_, i) => ({ name: `s${i}`, url: 'http://a/m' })),
      ": the sources' maxBytes add up to 589824, over the 524288 a sample has room for",
    ],
  ])('refuses %s', (_what, input, message) => {
    expect(issues(input).join('\n')).toContain(message);
  });
});
