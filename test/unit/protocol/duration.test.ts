import { describe, expect, it } from 'vitest';
import { formatDuration, jsonPointer, parseDuration } from '../../../protocol/index.js';

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['6m10s', 370_000],
    ['7d', 604_800_000],
    ['1.5s', 1500],
    [' 2s ', 2000],
  ])('reads %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
  it.each(['', '10', 's', '5 minutes', '-1s', '1h 30m', '1w', '10S'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
  it('writes the largest whole unit', () => {
    expect([formatDuration(604_800_000), formatDuration(7_200_000), formatDuration(300_000), formatDuration(10_000), formatDuration(1500)]).toEqual([
      '7d',
      '2h',
      '5m',
      '10s',
      '1500ms',
    ]);
  });
  it('escapes JSON pointer tokens', () => {
    expect(jsonPointer(['disk', '/var/log', 'a~b'])).toBe('/disk/~1var~1log/a~0b');
    expect(jsonPointer([])).toBe('/');
  });
});
