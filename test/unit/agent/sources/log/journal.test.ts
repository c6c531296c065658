import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogSource } from '../../../../../agent/sources/log/index.js';
import { journalArgs, journalMessage } from '../../../../../agent/sources/log/journal-follower.js';
import { check, createLogger, sampleBody, silentLogger } from '../../../../../protocol/index.js';

const ctx = { log: silentLogger, env: process.env, changed: () => {} };
const dir = mkdtempSync(join(tmpdir(), 'laas-journal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Lines as `journalctl -o json --output-fields MESSAGE` prints them (systemd 252): MESSAGE is a
// string, an array of bytes when it is not valid UTF-8 or holds control characters, or null when
// it is longer than 4096 bytes (journalctl without --all).
const RECORDED = [
  '{"__CURSOR":"s=4f1c;i=1a2;b=9d;m=3b1;t=5f0;x=1","__REALTIME_TIMESTAMP":"1764925200000000","__MONOTONIC_TIMESTAMP":"123","_BOOT_ID":"9d","MESSAGE":"2026/12/05 09:00:00 [error] 812#812: *1 connect() failed (111: Connection refused) while connecting to upstream"}',
  '{"__CURSOR":"s=4f1c;i=1a3;b=9d;m=3b2;t=5f1;x=2","__REALTIME_TIMESTAMP":"1764925200100000","__MONOTONIC_TIMESTAMP":"124","_BOOT_ID":"9d","MESSAGE":[69,82,82,79,82,32,98,97,100,32,255,32,98,121,116,101,27,91,48,109]}',
  '{"__CURSOR":"s=4f1c;i=1a4;b=9d;m=3b3;t=5f2;x=3","__REALTIME_TIMESTAMP":"1764925200200000","__MONOTONIC_TIMESTAMP":"125","_BOOT_ID":"9d","MESSAGE":null}',
  '{"__CURSOR":"s=4f1c;i=1a5;b=9d;m=3b4;t=5f3;x=4","__REALTIME_TIMESTAMP":"1764925200300000","__MONOTONIC_TIMESTAMP":"126","_BOOT_ID":"9d","MESSAGE":"nginx: worker process started"}',
];

describe('reading journalctl JSON', () => {
  it('takes MESSAGE as a string or as an array of bytes, and skips null and garbage', () => {
    expect(journalMessage(RECORDED[0]).message).toMatch(/^2026\/12\/05 .* \[error\] .*upstream$/);
    expect(journalMessage(RECORDED[1])).toEqual({ message: 'ERROR bad \uFFFD byte\u001b[0m', cursor: 's=4f1c;i=1a3;b=9d;m=3b2;t=5f1;x=2' });
    expect(journalMessage(RECORDED[2])).toEqual({ cursor: 's=4f1c;i=1a4;b=9d;m=3b3;t=5f2;x=3' });
    expect(journalMessage('not json {')).toEqual({});
    expect(journalMessage('42')).toEqual({});
    expect(journalMessage('{"MESSAGE":[1,2,300]}')).toEqual({});
  });
});

function source(journalctl: string, socket: string, log = silentLogger) {
  const journal = { journalctl, socket, backoffMs: { min: 10, max: 40 } };
  return new LogSource([{ name: 'nginx', unit: 'nginx.service', match: '\\[error\\]|ERROR', window: 300_000 }], { ...ctx, log }, { journal });
}

/** Waits (bounded) until the source's fact satisfies `ok`. */
async function until(s: LogSource, ok: (f: NonNullable<ReturnType<LogSource['snapshot']>>['nginx']) => boolean) {
  for (let i = 0; i < 200; i++) {
    const f = s.snapshot().nginx;
    if (ok(f)) return f;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`never reached: ${JSON.stringify(s.snapshot())}`);
}

describe('following a unit in the journal', () => {
  // This container runs no systemd-journald: journalctl would wait in silence, so the missing
  // socket is what says the journal is not there.
  it('is an error with the reason when the systemd journal is not running', async () => {
    const s = source('journalctl', join(dir, 'no-such-socket'));
    s.start();
    const f = await until(s, (f) => f.error !== undefined);
    await s.stop();
    expect(f).toEqual({ count: 0, total: 0, error: `the systemd journal is not running (no ${join(dir, 'no-such-socket')})` });
  });

  it('is an error with the reason when journalctl is missing', async () => {
    const socket = join(dir, 'socket');
    writeFileSync(socket, '');
    const s = source(join(dir, 'no-journalctl'), socket);
    s.start();
    const f = await until(s, (f) => f.error !== undefined);
    await s.stop();
    expect(f.error).toBe(`journalctl for nginx.service stopped: ${join(dir, 'no-journalctl')} not found (install systemd's journalctl)`);
    expect(check(sampleBody, { seq: 0, ts: 1, trigger: 'interval', log: s.snapshot() })).toMatchObject({ ok: true });
  });

  // A stand-in for journalctl that prints the recorded lines and exits, as journalctl does when
  // journald goes away: the source counts, says why it stopped, restarts after the last cursor.
  it('counts matching messages through one long-running child, restarting it after the last cursor when it exits', async () => {
    const socket = join(dir, 'socket');
    writeFileSync(socket, '');
    const args = join(dir, 'args');
    const fake = join(dir, 'fake-journalctl');
    writeFileSync(
      fake,
      `#!/bin/sh\necho "$@" >> ${args}\ncat <<'EOF'\n${RECORDED.join('\n')}\nEOF\necho "Failed to iterate through journal: Bad message" >&2\nexit 1\n`,
    );
    chmodSync(fake, 0o755);
    const logged: string[] = [];
    const s = source(
      fake,
      socket,
      createLogger('test', 'warn', (line) => logged.push(line)),
    );
    s.start();
    const f = await until(s, (f) => f.total >= 4);
    await s.stop();
    expect(f.lastLine).toMatch(/^ERROR bad \uFFFD byte|\[error\]/);
    // The error is in the fact only until journalctl runs again; the agent's log keeps it.
    expect(logged.join('\n')).toContain('log nginx: journalctl for nginx.service stopped: Failed to iterate through journal: Bad message');
    expect(f.total % 2).toBe(0);
    const runs = readFileSync(args, 'utf8').trim().split('\n');
    expect(runs[0]).toBe('--follow --output json --output-fields MESSAGE --no-pager --quiet --lines 0 --unit nginx.service');
    expect(runs[1]).toBe(
      '--follow --output json --output-fields MESSAGE --no-pager --quiet --after-cursor=s=4f1c;i=1a5;b=9d;m=3b4;t=5f3;x=4 --unit nginx.service',
    );
  });

  // The arguments must be ones the real journalctl takes: run it once without --follow (it then
  // ends at once), from now and after a cursor it has never seen.
  it.skipIf(journalctlMissing())('gives journalctl arguments it accepts', () => {
    const run = (args: string[]) =>
      spawnSync(
        'journalctl',
        args.filter((a) => a !== '--follow'),
        { encoding: 'utf8' },
      );
    expect(run(journalArgs('nginx.service'))).toMatchObject({ status: 0, stderr: '' });
    const cursor = 's=0123456789abcdef0123456789abcdef;i=1;b=0123456789abcdef0123456789abcdef;m=1;t=1;x=1';
    expect(run(journalArgs('nginx.service', cursor))).toMatchObject({ status: 0, stderr: '' });
  });
});

/** Why journalctl cannot be run here; under CI=true its absence fails the test run (the Debian package "systemd"). */
function journalctlMissing(): boolean {
  if (spawnSync('journalctl', ['--version']).status === 0) return false;
  if (process.env.CI) throw new Error('CI: journalctl not found (install the Debian package "systemd")');
  console.warn('skipping the journalctl argument test: journalctl not found (install the Debian package "systemd")');
  return true;
}
