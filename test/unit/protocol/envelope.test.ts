import { describe, expect, it } from 'vitest';
import { LaasError, MAX_FRAME_BYTES, PROTOCOL_VERSION, decode, encode, type Sample } from '../../../protocol/index.js';

const sample: Sample = {
  seq: 1,
  ts: 1_700_000_000_000,
  trigger: 'interval',
  cpu: { usage: 12.5, load1: 0.1, load5: 0.2, load15: 0.3 },
  disk: { '/': { usedPercent: 40, freeBytes: 1e9, totalBytes: 2e9 } },
  service: { demo: { up: true, since: 1_700_000_000_000 } },
};

describe('protocol decode', () => {
  it('round-trips every good message', () => {
    const frames = [
      encode('hello', {
        agentId: 'web-1',
        agentVersion: '0.1.0',
        hostname: 'web-1',
        labels: { role: 'web' },
        os: { platform: 'linux', release: '6.1' },
        intervalMs: 10_000,
        services: ['demo'],
        actions: ['service.restart'],
        scripts: [],
      }),
      encode('welcome', { hostId: 'web-1', controllerVersion: '0.1.0' }),
      encode('sample', sample),
      encode('run', { id: 'r1', host: 'web-1', action: 'service.restart', params: { service: 'demo' }, timeoutMs: 1000, deadline: 2e12 }),
      encode('ack', { id: 'r1' }),
      encode('result', {
        id: 'r1',
        action: 'service.restart',
        outcome: 'succeeded',
        exitCode: 0,
        signal: null,
        stdout: '',
        stderr: '',
        truncated: false,
        startedAt: 1,
        durationMs: 3,
      }),
    ];
    const types = frames.map((f) => decode(f).type);
    expect(types).toEqual(['hello', 'welcome', 'sample', 'run', 'ack', 'result']);
    expect(decode(frames[2]).body).toEqual(sample);
  });

  it('accepts a Buffer frame', () => {
    expect(decode(Buffer.from(encode('ack', { id: 'x' })))).toEqual({ type: 'ack', body: { id: 'x' } });
  });

  const bad: [string, string | Buffer, string, RegExp][] = [
    ['not JSON', '{"v":1,', 'FRAME_NOT_JSON', /not JSON/],
    ['a JSON array', '[1,2]', 'FRAME_BAD_ENVELOPE', /JSON object/],
    ['a JSON string', '"hello"', 'FRAME_BAD_ENVELOPE', /JSON object/],
    [
      'an extra envelope field',
      JSON.stringify({ v: PROTOCOL_VERSION, type: 'ack', body: { id: 'x' }, extra: 1 }),
      'FRAME_BAD_ENVELOPE',
      /unknown envelope field "extra"/,
    ],
    ['a wrong version', JSON.stringify({ v: 99, type: 'ack', body: { id: 'x' } }), 'FRAME_UNSUPPORTED_VERSION', /version 99 is not supported/],
    ['no version', JSON.stringify({ type: 'ack', body: { id: 'x' } }), 'FRAME_UNSUPPORTED_VERSION', /version undefined/],
    ['no type', JSON.stringify({ v: 1, body: {} }), 'FRAME_BAD_ENVELOPE', /no string "type"/],
    ['an unknown type', JSON.stringify({ v: 1, type: 'shell', body: {} }), 'FRAME_UNKNOWN_TYPE', /unknown message type "shell"/],
    ['a prototype key as type', JSON.stringify({ v: 1, type: '__proto__', body: {} }), 'FRAME_UNKNOWN_TYPE', /__proto__/],
    ['a body of the wrong shape', JSON.stringify({ v: 1, type: 'sample', body: { ...sample, seq: 'one' } }), 'FRAME_BAD_BODY', /sample \/body\/seq/],
    ['an unknown body field', JSON.stringify({ v: 1, type: 'ack', body: { id: 'x', cmd: 'rm -rf /' } }), 'FRAME_BAD_BODY', /ack \/body: .*cmd/i],
    ['a missing body', JSON.stringify({ v: 1, type: 'ack' }), 'FRAME_BAD_BODY', /ack \/body/],
    [
      'a bad nested fact',
      JSON.stringify({ v: 1, type: 'sample', body: { ...sample, service: { demo: { up: 'yes', since: 1 } } } }),
      'FRAME_BAD_BODY',
      /\/body\/service\/demo\/up/,
    ],
    ['a frame over the size limit', 'x'.repeat(MAX_FRAME_BYTES + 1), 'FRAME_TOO_LARGE', /exceeds/],
  ];
  it.each(bad)('refuses %s with a typed error', (_name, frame, code, text) => {
    let caught: unknown;
    try {
      decode(frame);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(LaasError);
    expect((caught as LaasError).code).toBe(code);
    expect((caught as LaasError).message).toMatch(text);
  });
});
