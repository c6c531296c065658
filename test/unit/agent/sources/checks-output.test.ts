import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { parsePerfdata, parsePluginOutput } from '../../../../agent/sources/checks/output.js';
import { checkFacts } from '../../../../protocol/index.js';

// Cases from the Monitoring Plugins development guidelines (output and perfdata, range
// expressions), the Nagios 3 multi-line format, and what the Debian plugins print.
describe('perfdata', () => {
  const table: [string, string, Record<string, unknown>][] = [
    ['a plain value', 'load1=0.5', { load1: { value: 0.5, uom: '' } }],
    ['all five fields', 'time=0.270634s;1;2;0.000000;10', { time: { value: 0.270634, uom: 's', warn: 1, crit: 2, min: 0, max: 10 } }],
    [
      'empty fields and a trailing ";"',
      '/=382MB;15264;15269;; /var=218MB;9443;9448',
      {
        '/': { value: 382, uom: 'MB', warn: 15264, crit: 15269 },
        '/var': { value: 218, uom: 'MB', warn: 9443, crit: 9448 },
      },
    ],
    ['a quoted label with blanks', "'data disk'=12%;80;90", { 'data disk': { value: 12, uom: '%', warn: 80, crit: 90 } }],
    ['a quoted label holding "=" and a doubled quote', "'a=b ''c'''=1c", { "a=b 'c'": { value: 1, uom: 'c' } }],
    [
      'every unit of the guidelines',
      'a=1s b=2ms c=3us d=4% e=5B f=6KB g=7MB h=8GB i=9TB j=10c',
      {
        a: { value: 1, uom: 's' },
        b: { value: 2, uom: 'ms' },
        c: { value: 3, uom: 'us' },
        d: { value: 4, uom: '%' },
        e: { value: 5, uom: 'B' },
        f: { value: 6, uom: 'KB' },
        g: { value: 7, uom: 'MB' },
        h: { value: 8, uom: 'GB' },
        i: { value: 9, uom: 'TB' },
        j: { value: 10, uom: 'c' },
      },
    ],
    [
      'negative and fractional numbers',
      'temp=-3.5;-10;-20;-40;60 x=.5',
      { temp: { value: -3.5, uom: '', warn: -10, crit: -20, min: -40, max: 60 }, x: { value: 0.5, uom: '' } },
    ],
    [
      'range thresholds kept as their text',
      'a=5;10:;~:20;0 b=15;@10:20;10:20 c=1;5:10;@~:3',
      {
        a: { value: 5, uom: '', warn: '10:', crit: '~:20', min: 0 },
        b: { value: 15, uom: '', warn: '@10:20', crit: '10:20' },
        c: { value: 1, uom: '', warn: '5:10', crit: '@~:3' },
      },
    ],
    ['scientific notation is still a number', 'big=6.02e23 small=-3e-45', { big: { value: 6.02e23, uom: '' }, small: { value: -3e-45, uom: '' } }],
    ['"U" (undetermined) is not a value: skipped', 'rta=U;;; pl=100%;20;60', { pl: { value: 100, uom: '%', warn: 20, crit: 60 } }],
    ['garbage between good items is skipped', 'ok=1 garbage =2 noval= x=abc y=3xyz!;1 z=4', { ok: { value: 1, uom: '' }, z: { value: 4, uom: '' } }],
    ['a bad threshold is dropped, the value kept', 'a=1;x;2;lo;hi', { a: { value: 1, uom: '', crit: 2 } }],
    ['the first of two same labels wins', 'a=1 a=2', { a: { value: 1, uom: '' } }],
    ['an unterminated quote reads nothing', "'abc=1 d=2", {}],
    ['tabs and many blanks separate items', 'a=1\t\tb=2    c=3', { a: { value: 1, uom: '' }, b: { value: 2, uom: '' }, c: { value: 3, uom: '' } }],
    ['a prototype name is not a label', '__proto__=1 constructor=2', { constructor: { value: 2, uom: '' } }],
    ['nothing', '', {}],
  ];
  it.each(table)('%s', (_what, text, want) => {
    expect(parsePerfdata(text)).toEqual(want);
  });

  it('keeps at most 100 items', () => {
    const text = Array.from({ length: 150 }, (_, i) => `m${i}=${i}`).join(' ');
    const perf = parsePerfdata(text);
    expect(Object.keys(perf)).toHaveLength(100);
    expect(perf.m99).toEqual({ value: 99, uom: '' });
  });
});

describe('plugin output', () => {
  it('reads the first line as the text and the rest as long text', () => {
    expect(parsePluginOutput('DISK OK - free space: / 3326 MB (56%);\n/boot: 70%\n/home: 12%\n')).toEqual({
      output: 'DISK OK - free space: / 3326 MB (56%);',
      longOutput: '/boot: 70%\n/home: 12%',
      perf: {},
    });
  });

  it('reads perfdata on the first line and on the later lines (Nagios 3 multi-line format)', () => {
    // The guidelines' example: perfdata after "|" on line 1, and from the "|" on a later line to the end.
    const out = [
      'DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968',
      '/ 15272 MB (77%);',
      '/boot 68 MB (69%);',
      '/home 69357 MB (27%);',
      '/var/log 819 MB (84%); | /boot=68MB;88;93;0;98',
      '/home=69357MB;253404;253409;0;253414',
      "'/var/log'=818MB;970;975;0;980",
    ].join('\n');
    const r = parsePluginOutput(out);
    expect(r.output).toBe('DISK OK - free space: / 3326 MB (56%);');
    expect(r.longOutput).toBe('/ 15272 MB (77%);\n/boot 68 MB (69%);\n/home 69357 MB (27%);\n/var/log 819 MB (84%);');
    expect(r.perf).toEqual({
      '/': { value: 2643, uom: 'MB', warn: 5948, crit: 5958, min: 0, max: 5968 },
      '/boot': { value: 68, uom: 'MB', warn: 88, crit: 93, min: 0, max: 98 },
      '/home': { value: 69357, uom: 'MB', warn: 253404, crit: 253409, min: 0, max: 253414 },
      '/var/log': { value: 818, uom: 'MB', warn: 970, crit: 975, min: 0, max: 980 },
    });
  });

  it('reads CRLF line ends, and a plugin that printed nothing', () => {
    expect(parsePluginOutput('OK - fine|a=1\r\nmore\r\n')).toEqual({ output: 'OK - fine', longOutput: 'more', perf: { a: { value: 1, uom: '' } } });
    expect(parsePluginOutput('')).toEqual({ output: '', perf: {} });
  });

  it('cuts long text to the wire bounds without splitting a character', () => {
    const r = parsePluginOutput(`${'x'.repeat(4095)}😀tail\n${'y'.repeat(20_000)}`);
    expect(r.output).toBe('x'.repeat(4095));
    expect(r.longOutput).toHaveLength(16_384);
  });

  // Whatever a plugin prints, the fact it makes is one the controller accepts.
  it.each([
    ['binary noise', Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 256)).toString('utf8')],
    ['NUL in labels and text', 'OK\0 | a\0b=1 c=2\n\0'],
    ['only bars', '|||||\n|||\n|'],
    ['quotes everywhere', "'''='''=1 ''=2 '=3 '' '"],
    ['huge numbers', `a=1e999 b=${'9'.repeat(400)} c=-1e999;1e999`],
    ['very long labels and thresholds', `${'l'.repeat(300)}=1 b=1;${'1:'.repeat(50)}2`],
  ])('makes a valid check fact of %s', (_what, text) => {
    const r = parsePluginOutput(text);
    const fact = {
      status: 0,
      state: 'ok',
      output: r.output,
      ...(r.longOutput !== undefined ? { longOutput: r.longOutput } : {}),
      perf: r.perf,
      durationMs: 1,
      at: 1,
    };
    const parsed = v.safeParse(checkFacts, fact);
    expect(parsed.issues).toBeUndefined();
    expect(Object.keys(parsed.output ?? {}).length).toBeGreaterThan(0);
  });
});
