import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../../../agent/config.js';
import { LaasError } from '../../../../protocol/index.js';

const base = { controller: 'ws://127.0.0.1:7070', token: 'secret' };
const LOAD = '/usr/lib/nagios/plugins/check_load';
const check = (extra: Record<string, unknown> = {}) => ({ name: 'load', command: [LOAD, '-w', '4,3,2', '-c', '8,6,4'], ...extra });

function errorOf(checks: unknown): string {
  try {
    parseAgentConfig({ ...base, checks }, 'agent.json');
  } catch (e) {
    expect(e).toBeInstanceOf(LaasError);
    return (e as LaasError).message;
  }
  throw new Error('expected the config to be rejected');
}

describe('agent.json checks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'laas-checks-config-'));
  const dropIn = join(dir, 'checks.d');
  mkdirSync(dropIn);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads checks with their defaults (interval 1m, timeout 10s)', () => {
    const c = parseAgentConfig({ ...base, checks: [check(), check({ name: 'disk', command: ['/bin/true'], interval: '30s', timeout: '2s' })] }, 'agent.json');
    expect(c.sources.checks).toEqual([
      { name: 'load', command: [LOAD, '-w', '4,3,2', '-c', '8,6,4'], intervalMs: 60_000, timeoutMs: 10_000 },
      { name: 'disk', command: ['/bin/true'], intervalMs: 30_000, timeoutMs: 2_000 },
    ]);
  });

  const bad: [string, unknown, string][] = [
    ['a command that is a string (a shell would split it)', [check({ command: `${LOAD} -w 4` })], 'agent.json /checks/0/command: expected an argument vector'],
    [
      'a program found through PATH',
      [check({ command: ['check_load'] })],
      "agent.json /checks/0/command/0: expected the program's absolute path (no PATH lookup, no shell)",
    ],
    ['an empty command', [check({ command: [] })], 'agent.json /checks/0/command: expected an argument vector'],
    ['an empty argument', [check({ command: [LOAD, ''] })], 'agent.json /checks/0/command/1: must not be empty'],
    ['a busy-loop interval', [check({ interval: '10ms' })], 'agent.json /checks/0/interval: must be at least "1s"'],
    ['a timeout over 10 minutes', [check({ timeout: '1h' })], 'agent.json /checks/0/timeout: must be at most "10m"'],
    ['a duration without a unit', [check({ interval: 30 })], 'agent.json /checks/0/interval: expected a duration like "30s" or "5m", got 30'],
    ['an unknown field', [check({ shell: true })], 'agent.json /checks/0: unknown field "shell"'],
    ['a name with blanks around it', [check({ name: ' load' })], 'agent.json /checks/0/name: must not start or end with blanks'],
    ['two checks of one name', [check(), check()], 'agent.json /checks/1/name: duplicate check name "load" (first at /checks/0)'],
    ['a relative include', [{ include: 'checks.d/*.json' }], 'agent.json /checks/0/include: expected an absolute path to a JSON file of checks'],
    ["a wildcard in the include's folder", [{ include: '/etc/*/x.json' }], 'agent.json /checks/0/include: expected an absolute path'],
    [
      'an include of a missing folder',
      [{ include: '/nonexistent-laas/*.json' }],
      'agent.json /checks/0/include: cannot read the directory /nonexistent-laas: ENOENT',
    ],
    ['not a list', { load: check() }, 'agent.json /checks: expected a list of checks'],
  ];
  it.each(bad)('rejects %s', (_what, checks, expected) => {
    expect(errorOf(checks)).toContain(expected);
  });

  it('reads included files in name order, with their faults at file and pointer', () => {
    writeFileSync(join(dropIn, '10-load.json'), JSON.stringify([check({ name: 'load-a' }), check({ name: 'load-b' })]));
    writeFileSync(join(dropIn, '20-one.json'), JSON.stringify(check({ name: 'one' })));
    writeFileSync(join(dropIn, '.hidden.json'), 'not json');
    writeFileSync(join(dropIn, 'README'), 'not a check');
    const c = parseAgentConfig({ ...base, checks: [check(), { include: join(dropIn, '*.json') }] }, 'agent.json');
    expect(c.sources.checks.map((x) => x.name)).toEqual(['load', 'load-a', 'load-b', 'one']);

    writeFileSync(join(dropIn, '30-bad.json'), JSON.stringify([check({ name: 'x', command: ['rel'] }), check({ name: 'load-a' })]));
    writeFileSync(join(dropIn, '40-broken.json'), '[\n{"name": }');
    const message = errorOf([check(), { include: join(dropIn, '*.json') }]);
    expect(message).toContain(`agent.json /checks/1/include: ${join(dropIn, '30-bad.json')} /0/command/0: expected the program's absolute path`);
    expect(message).toContain(`agent.json /checks/1/include: ${join(dropIn, '40-broken.json')}:2:10: not valid JSON`);
  });

  it('refuses a check an included file names twice across files', () => {
    const d = join(dir, 'dup');
    mkdirSync(d);
    writeFileSync(join(d, 'a.json'), JSON.stringify(check({ name: 'same' })));
    writeFileSync(join(d, 'b.json'), JSON.stringify(check({ name: 'same' })));
    expect(errorOf([{ include: join(d, '*.json') }])).toContain(`agent.json /checks/0/include: duplicate check name "same" (first at ${join(d, 'a.json')})`);
  });
});
