import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../../../agent/config.js';
import { resolveName } from '../../../../agent/sources/dns/resolve.js';
import { startDnsServer } from '../../../helpers/dns-server.js';

let dns: Awaited<ReturnType<typeof startDnsServer>>;
beforeAll(async () => {
  dns = await startDnsServer({ 'api.test': ['10.0.0.5', '10.0.0.6'] }, ['hang.test']);
});
afterAll(() => dns.close());

const entry = (extra: Record<string, unknown>) =>
  parseAgentConfig({ controller: 'ws://127.0.0.1:1', token: 't', dns: [{ name: 'api', ...extra }] }, 'agent.json').sources.dns[0];
const never = new AbortController().signal;

describe('dns source: a real DNS server on a local UDP port', () => {
  it('resolves, and is ok when the expected answer is among the answers', async () => {
    const f = await resolveName(entry({ query: 'api.test', server: dns.server, expect: ['10.0.0.5'] }), never);
    expect(f).toMatchObject({ ok: true, answers: ['10.0.0.5', '10.0.0.6'] });
    expect(f.ms).toBeGreaterThan(0);
  });

  it('is not ok when the expected answer is missing, and says which', async () => {
    expect(await resolveName(entry({ query: 'api.test', server: dns.server, expect: ['10.0.0.9'] }), never)).toMatchObject({
      ok: false,
      answers: ['10.0.0.5', '10.0.0.6'],
      error: 'expected 10.0.0.9 among the answers',
    });
  });

  it('is not ok for a name that does not exist, or a server that does not answer', async () => {
    expect(await resolveName(entry({ query: 'gone.test', server: dns.server }), never)).toMatchObject({
      ok: false,
      answers: [],
      error: 'ENOTFOUND: no such name (A gone.test)',
    });
    expect(await resolveName(entry({ query: 'hang.test', server: dns.server, timeout: '300ms' }), never)).toMatchObject({
      ok: false,
      answers: [],
      error: 'ETIMEOUT: no answer (A hang.test)',
    });
  });

  it.each([
    [{ query: 'a b' }, '/dns/0/query: expected a DNS name'],
    [{ query: 'a.test', type: 'PTR' }, '/dns/0/type: expected one of A, AAAA'],
    [{ query: 'a.test', server: 'dns.example.com' }, '/dns/0/server: expected a DNS server'],
  ])('refuses %j', (extra, message) => {
    expect(() => entry(extra)).toThrow(message);
  });
});
