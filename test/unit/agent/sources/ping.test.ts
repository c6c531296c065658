import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../../../agent/config.js';
import { parsePing, ping } from '../../../../agent/sources/ping/run.js';

/** Why the real ping cannot run here; under CI=true a missing binary is a failure, not a skip. */
function pingMissing(): string | undefined {
  try {
    execFileSync('ping', ['-V'], { stdio: 'ignore' });
    return undefined;
  } catch {
    const reason = 'the ping binary is missing (install the Debian package "iputils-ping")';
    if (process.env.CI) throw new Error(`CI: ${reason}`);
    console.warn(`skipping real ping tests: ${reason}`);
    return reason;
  }
}

const entry = (extra: Record<string, unknown>) =>
  parseAgentConfig({ controller: 'ws://127.0.0.1:1', token: 't', pings: [{ name: 'gw', ...extra }] }, 'agent.json').sources.pings[0];
const never = new AbortController().signal;

describe.skipIf(pingMissing() !== undefined)('ping source: the real ping binary', () => {
  it('gets every reply from 127.0.0.1, with round-trip times', async () => {
    const f = await ping(entry({ host: '127.0.0.1', count: 3 }), never, process.env);
    expect(f).toMatchObject({ up: true, sent: 3, received: 3, lossPercent: 0 });
    expect(f.rttMs).toBeGreaterThan(0);
    expect(f.rttMaxMs).toBeGreaterThanOrEqual(f.rttMs!);
    expect(f.error).toBeUndefined();
  });

  it('loses every packet to an address nothing answers (TEST-NET-2), in bounded time', async () => {
    const f = await ping(entry({ host: '198.51.100.1', count: 2, timeout: '300ms' }), never, process.env);
    expect(f).toMatchObject({ up: false, received: 0, lossPercent: 100 });
    expect(f.rttMs).toBeUndefined();
  });

  it('names a host that does not resolve', async () => {
    const f = await ping(entry({ host: 'nothing.invalid', count: 1 }), never, process.env);
    expect(f).toMatchObject({ up: false, sent: 0, received: 0, lossPercent: 100, error: expect.stringContaining('nothing.invalid') });
  });
});

describe('ping output', () => {
  it('reads partial loss and a missing binary', () => {
    const out = '--- 10.0.0.1 ping statistics ---\n4 packets transmitted, 1 received, 75% packet loss, time 601ms\nrtt min/avg/max/mdev = 0.5/0.6/0.7/0.1 ms\n';
    expect(parsePing(out, '', null, 4, 5000)).toEqual({ up: true, sent: 4, received: 1, lossPercent: 75, rttMs: 0.6, rttMaxMs: 0.7 });
    const missing = Object.assign(new Error('spawn ping ENOENT'), { code: 'ENOENT' });
    expect(parsePing('', '', missing, 3, 5000)).toMatchObject({ up: false, error: 'the ping binary was not found (Debian: iputils-ping)' });
  });

  it.each([
    [{ host: '-f' }, '/pings/0/host: expected a host name or IP address'],
    [{ host: 'a', count: 0 }, '/pings/0/count: expected 1-20 packets'],
    [{ host: 'a', interval: '10ms' }, '/pings/0/interval: must be at least 1s'],
  ])('refuses %j', (extra, message) => {
    expect(() => entry(extra)).toThrow(message);
  });
});
