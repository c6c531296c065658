import { describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../../protocol/log.js';

function collect(level?: string) {
  const lines: string[] = [];
  const log = createLogger('laas-test', level, (l) => lines.push(l));
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('the structured logger', () => {
  it("writes one JSON object per line in pino's shape: level number, ISO time, pid, name, fields, msg last", () => {
    const { log, lines, parsed } = collect('info');
    log.info({ host: 'web-1', n: 3 }, 'heal dispatched');
    log.warn('plain message');
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
    const [a, b] = parsed();
    expect(Object.keys(a)).toEqual(['level', 'time', 'pid', 'name', 'host', 'n', 'msg']);
    expect(a).toMatchObject({ level: 30, pid: process.pid, name: 'laas-test', host: 'web-1', n: 3, msg: 'heal dispatched' });
    expect(new Date(a.time as string).toISOString()).toBe(a.time);
    expect(b).toMatchObject({ level: 40, msg: 'plain message' });
  });

  it('drops lines below its level, and says which levels are on', () => {
    const { log, parsed } = collect('warn');
    log.debug('no');
    log.info('no');
    log.error({ code: 'X' }, 'yes');
    log.fatal('yes too');
    expect(parsed().map((l) => l.level)).toEqual([50, 60]);
    expect(log.isLevelEnabled('info')).toBe(false);
    expect(log.isLevelEnabled('error')).toBe(true);
    const silent = collect('silent');
    silent.log.fatal('never');
    expect(silent.lines).toEqual([]);
    expect(silentLogger.isLevelEnabled('fatal')).toBe(false);
  });

  it("adds a child's bindings to every line, after the parent's", () => {
    const { log, parsed } = collect('debug');
    log.child({ part: 'agent' }).child({ link: 2 }).debug({ x: 1 }, 'hello');
    const [l] = parsed();
    expect(l).toMatchObject({ level: 20, name: 'laas-test', part: 'agent', link: 2, x: 1, msg: 'hello' });
  });

  it('never throws on awkward fields: errors keep type, message and stack; bigints become text; cycles are marked', () => {
    const { log, parsed } = collect('info');
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    log.error({ err: new TypeError('bad thing'), big: 12345678901234567890n, cyclic }, 'awkward');
    const [l] = parsed();
    expect(l.err).toMatchObject({ type: 'TypeError', message: 'bad thing' });
    expect(String((l.err as { stack: string }).stack)).toContain('bad thing');
    expect(l.big).toBe('12345678901234567890');
    expect(l.cyclic).toEqual({ a: 1, self: '[Circular]' });
  });

  it('refuses an unknown LAAS_LOG_LEVEL with the levels it knows', () => {
    expect(() => createLogger('x', 'verbose', () => {})).toThrow(
      /LAAS_LOG_LEVEL=verbose is not a log level: use one of trace, debug, info, warn, error, fatal, silent/,
    );
  });
});
