import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../../../../agent/config.js';
import { LaasError } from '../../../../../protocol/index.js';

const base = { controller: 'ws://127.0.0.1:7070', token: 'secret' };
const app = { name: 'app-errors', file: '/var/log/app.log', match: 'ERROR|FATAL' };

function errorOf(value: unknown): string {
  try {
    parseAgentConfig(value, 'agent.json');
  } catch (e) {
    expect(e).toBeInstanceOf(LaasError);
    return (e as LaasError).message;
  }
  throw new Error('expected the config to be rejected');
}

describe('the logs section of agent.json', () => {
  it('takes files and journal units, with the window in milliseconds (5m by default)', () => {
    const c = parseAgentConfig({ ...base, logs: [app, { name: 'nginx-journal', unit: 'nginx.service', match: '\\[error\\]', window: '1m' }] }, 'agent.json');
    expect(c.sources.logs).toEqual([
      { ...app, window: 300_000 },
      { name: 'nginx-journal', unit: 'nginx.service', match: '\\[error\\]', window: 60_000 },
    ]);
    expect(parseAgentConfig(base, 'agent.json').sources.logs).toEqual([]);
  });

  // Each bad entry with the exact error a user sees: the file, the JSON pointer, the fault.
  const bad: [string, unknown, string][] = [
    ['no file and no unit', { name: 'x', match: 'E' }, 'agent.json /logs/0: expected exactly one of "file" and "unit"'],
    ['both file and unit', { ...app, unit: 'nginx' }, 'agent.json /logs/0: expected exactly one of "file" and "unit"'],
    ['relative path', { ...app, file: 'app.log' }, 'agent.json /logs/0/file: expected an absolute path to a log file like "/var/log/app.log"'],
    [
      'unit that looks like an option',
      { name: 'x', unit: '--all', match: 'E' },
      'agent.json /logs/0/unit: expected a systemd unit name like "nginx" or "nginx.service"',
    ],
    [
      'a backreference, which RE2 does not have',
      { ...app, match: '(a)\\1' },
      'agent.json /logs/0/match: invalid regular expression (RE2 syntax: no backreferences or lookaround): invalid escape sequence: `\\1`',
    ],
    [
      'an unclosed group',
      { ...app, match: '(ERROR' },
      'agent.json /logs/0/match: invalid regular expression (RE2 syntax: no backreferences or lookaround): missing closing ): `(ERROR`',
    ],
    ['an empty pattern', { ...app, match: '' }, 'agent.json /logs/0/match: must not be empty'],
    ['a window too short to count over', { ...app, window: '1s' }, 'agent.json /logs/0/window: must be at least 10s'],
    ['a window of days', { ...app, window: '2d' }, 'agent.json /logs/0/window: must be at most 1d'],
    ['an unknown field', { ...app, regex: 'E' }, 'agent.json /logs/0: unknown field "regex"'],
  ];
  it.each(bad)('refuses %s', (_, entry, message) => {
    expect(errorOf({ ...base, logs: [entry] })).toBe(message);
  });

  it('refuses two patterns of one name, naming the first', () => {
    expect(errorOf({ ...base, logs: [app, { ...app, file: '/var/log/b.log' }] })).toBe(
      'agent.json /logs/1: duplicate log name "app-errors" (first at /logs/0)',
    );
  });

  it('takes the example docs/facts.md gives', () => {
    const section = readFileSync('docs/facts.md', 'utf8').split('\n## Log patterns\n')[1];
    const example = /```json\n("logs": [\s\S]*?)\n```/.exec(section)![1];
    const logs = parseAgentConfig({ ...base, ...(JSON.parse(`{${example}}`) as object) }, 'docs/facts.md').sources.logs;
    expect(logs.map((l) => l.name)).toEqual(['app-errors', 'nginx-journal']);
  });
});
