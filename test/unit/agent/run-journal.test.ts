import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_REMEMBERED_RUNS, RunJournal } from '../../../agent/run-journal.js';
import { silentLogger, type Result, type Run } from '../../../protocol/index.js';

const run = (id: string, deadline: number): Run => ({ id, host: 'h', action: 'script.run', params: { name: 'x' }, timeoutMs: 1000, deadline });
const result = (id: string): Result => ({
  id,
  action: 'script.run',
  outcome: 'succeeded',
  exitCode: 0,
  signal: null,
  stdout: '',
  stderr: '',
  truncated: false,
  startedAt: 1,
  durationMs: 1,
});

describe('the run journal', () => {
  const dir = mkdtempSync(join(tmpdir(), 'laas-journal-'));
  const file = join(dir, 'runs.json');
  afterEach(() => {
    for (const f of readdirSync(dir)) rmSync(join(dir, f));
  });

  it('is on disk before the action runs, and a new journal (a restarted agent) knows the id', async () => {
    const j = new RunJournal(file, silentLogger);
    await j.begin(run('a.0', Date.now() + 30_000));
    expect(JSON.parse(readFileSync(file, 'utf8')).runs).toEqual([expect.objectContaining({ id: 'a.0' })]);
    expect(new RunJournal(file, silentLogger).get('a.0')?.outcome).toBe('running');
    await j.finish(result('a.0'));
    expect(new RunJournal(file, silentLogger).get('a.0')?.outcome).toBe('succeeded');
    expect(new RunJournal(file, silentLogger).get('b.0')).toBeUndefined();
  });

  it('forgets finished ids long past their deadline, and keeps at most its cap', async () => {
    let now = 1_000_000;
    const j = new RunJournal(file, silentLogger, () => now, 100);
    await j.begin(run('old.0', now + 1000));
    await j.finish(result('old.0'));
    now += 11 * 60_000;
    await j.begin(run('new.0', now + 1000));
    expect(j.get('old.0')).toBeUndefined();
    expect(j.get('new.0')).toBeDefined();
    // A burst: every begin resolves only once its id is on disk, with writes shared between them.
    const burst = Array.from({ length: 105 }, (_, i) => j.begin(run(`n${i}.0`, now + 60_000)));
    await Promise.all(burst);
    expect(j.size).toBe(100);
    expect(j.get('new.0')).toBeUndefined();
    const reread = new RunJournal(file, silentLogger, () => now);
    expect(reread.size).toBe(100);
    expect(reread.get('n104.0')).toBeDefined();
    expect(MAX_REMEMBERED_RUNS).toBe(10_000);
  });

  it('moves a corrupt file aside, says where, and starts empty', () => {
    writeFileSync(file, '{"version": 2}');
    const lines: Record<string, unknown>[] = [];
    const log = {
      ...silentLogger,
      error: (o: Record<string, unknown>, msg: string) => lines.push({ ...o, msg }),
      info: () => undefined,
    } as unknown as typeof silentLogger;
    const j = new RunJournal(file, log);
    expect(j.size).toBe(0);
    expect(existsSync(file)).toBe(false);
    const aside = readdirSync(dir).find((f) => f.startsWith('runs.json.corrupt-'))!;
    expect(readFileSync(join(dir, aside), 'utf8')).toBe('{"version": 2}');
    expect(lines).toEqual([
      expect.objectContaining({
        code: 'AGENT_STATE_CORRUPT',
        movedTo: join(dir, aside),
        msg: expect.stringContaining(`${file}: not a valid state file (/version:`),
      }),
    ]);
  });
});
