import { describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../../../../controller/config.js';

describe('remoteWrite in controller.json', () => {
  it('turns credentials into headers, with the defaults filled in', () => {
    process.env.LAAS_TEST_RW_TOKEN = 's3cret';
    const c = parseControllerConfig(
      { remoteWrite: [{ url: 'http://127.0.0.1:9090/api/v1/write', bearerToken: { env: 'LAAS_TEST_RW_TOKEN' }, headers: { 'X-Scope-OrgID': 'ops' } }] },
      'controller.json',
    );
    expect(c.remoteWrite).toEqual([
      expect.objectContaining({
        url: 'http://127.0.0.1:9090/api/v1/write',
        intervalMs: 15_000,
        maxSamplesPerSend: 2000,
        headers: { 'X-Scope-OrgID': 'ops', Authorization: 'Bearer s3cret' },
      }),
    ]);
  });

  it.each([
    [{ url: 'ftp://x/write' }, '/remoteWrite/0/url'],
    [{ url: 'http://x/write', bearerToken: 'a', basicAuth: { username: 'u', password: 'p' } }, 'give "basicAuth" or "bearerToken", not both'],
    [{ url: 'http://x/write', interval: 15 }, '/remoteWrite/0/interval'],
    [{ url: 'http://x/write', queue: 1 }, 'unknown field "queue"'],
    // A batch bigger than the queue was dropped as it was queued: nothing was ever sent.
    [{ url: 'http://x/write', maxSamplesPerSend: 500, maxQueuedSamples: 499 }, 'must be at least "maxSamplesPerSend"'],
  ])('refuses %j', (entry, message) => {
    expect(() => parseControllerConfig({ remoteWrite: [entry] }, 'controller.json')).toThrow(message);
  });
});
