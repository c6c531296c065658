import { describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../../../../controller/config.js';
import { globToRegExp } from '../../../../controller/security/agent-tokens.js';
import { AgentAuth, type Identity } from '../../../../controller/security/agents.js';
import { HelloRefusals } from '../../../../controller/security/hello-refusals.js';
import { MemoryStore } from '../../../../controller/store/memory.js';
import { LaasError, silentLogger } from '../../../../protocol/index.js';

const tokens = (agentTokens: unknown[]) => parseControllerConfig({ agentTokens }, 'controller.json').agentTokens;
const hello = (agentId: string, labels: Record<string, string> = {}) => ({ agentId, labels });

describe('agentTokens in controller.json', () => {
  it('takes plain secrets and entries that name and restrict a token', () => {
    process.env.LAAS_TEST_AGENT_TOKEN = 'from-the-env';
    expect(
      tokens(['plain', { env: 'LAAS_TEST_AGENT_TOKEN' }, { token: 'restricted', name: 'web', ids: ['web-*'], labels: { env: 'prod' }, maxHosts: 50 }]),
    ).toEqual([
      { token: 'plain', maxHosts: 10_000 },
      { token: 'from-the-env', maxHosts: 10_000 },
      { token: 'restricted', name: 'web', ids: ['web-*'], labels: { env: 'prod' }, maxHosts: 50 },
    ]);
    delete process.env.LAAS_TEST_AGENT_TOKEN;
  });

  it.each([
    [[{ token: 't', idz: ['a'] }], 'controller.json /agentTokens/0: unknown field "idz"'],
    [['ok', { token: 't', ids: 'web-*' }], 'controller.json /agentTokens/1/ids: expected array, received string'],
    [[{ token: 't', ids: [] }], '/agentTokens/0/ids: list at least one id or glob, or leave "ids" out'],
    [[{ token: 't', labels: {} }], '/agentTokens/0/labels: give at least one label, or leave "labels" out'],
    [[{ token: 't', maxHosts: 0 }], '/agentTokens/0/maxHosts: Too small'],
    [[{ token: 't', name: 'a b' }], '/agentTokens/0/name: letters, digits and . @ _ - only'],
    [[{ tokn: 't' }], '/agentTokens/0: expected a token: a string, {"env": "VAR"}, {"file": "/path"}, or {"token": …'],
    [[''], '/agentTokens/0: expected a token'],
    [['same', { token: 'same', name: 'b' }], 'controller.json /agentTokens/1: the same token as /agentTokens/0'],
    [[{ token: { env: 'LAAS_TEST_UNSET_TOKEN' } }], 'controller.json /agentTokens/0/token: environment variable LAAS_TEST_UNSET_TOKEN is not set'],
  ])('refuses %j with where and what', (entries, message) => {
    expect(() => tokens(entries)).toThrow(message);
  });

  it('globs: "*" is any run of characters, everything else is itself', () => {
    expect(globToRegExp('web-*').test('web-12')).toBe(true);
    expect(globToRegExp('web-*').test('web-')).toBe(true);
    expect(globToRegExp('web-*').test('db-web-1')).toBe(false);
    expect(globToRegExp('a.b').test('axb')).toBe(false);
    expect(globToRegExp('*.prod').test('web-1.prod')).toBe(true);
    expect(globToRegExp('exact').test('exact-not')).toBe(false);
  });
});

describe('AgentAuth: who may say hello as which id', () => {
  const auth = async (entries: unknown[], store = new MemoryStore()) => {
    const a = new AgentAuth(store, tokens(entries));
    await a.restore();
    return a;
  };
  const shared = (a: AgentAuth, token: string): Identity => a.identify(token)!;

  it('an enrolled id answers only to its own credential, revoked or not, until it is forgotten', async () => {
    const a = await auth(['shared-token']);
    const { token } = await a.createEnrollToken({ uses: 1, ttlMs: 60_000, createdBy: 'ops' });
    const out = await a.enroll(token, 'db-1', '10.0.0.9:5000');
    if (!('credential' in out)) throw new Error(out.error);
    const mine = a.identify(out.credential)!;
    expect(mine).toMatchObject({ kind: 'agent', id: 'db-1' });
    expect(await a.admit(mine, hello('db-1'), '10.0.0.9:5001')).toBeUndefined();
    expect(await a.admit(shared(a, 'shared-token'), hello('db-1'), '10.6.6.6:1')).toMatchObject({ reason: 'enrolled', code: 'AGENT_ID_ENROLLED' });
    await a.revoke('db-1', 'ops');
    expect(a.identify(out.credential)).toBeUndefined();
    expect(await a.admit(shared(a, 'shared-token'), hello('db-1'), '10.6.6.6:1')).toMatchObject({
      reason: 'enrolled',
      message: expect.stringContaining('laas agents forget db-1'),
    });
    expect(await a.forget('db-1')).toBe('forgotten');
    expect(await a.admit(shared(a, 'shared-token'), hello('db-1'), '10.6.6.6:1')).toBeUndefined();
  });

  it('a credential revoked through another controller is refused at the next hello, before any poll', async () => {
    const store = new MemoryStore();
    const here = await auth([], store);
    const there = await auth([], store);
    const { token } = await here.createEnrollToken({ uses: 1, ttlMs: 60_000, createdBy: 'ops' });
    const out = await here.enroll(token, 'web-1');
    if (!('credential' in out)) throw new Error(out.error);
    const id = here.identify(out.credential)!;
    await there.revoke('web-1', 'ops');
    expect(here.stillValid(id, 'web-1')).toBe(true); // this controller has not looked yet
    expect(await here.admit(id, hello('web-1'), '1.2.3.4:1')).toMatchObject({ reason: 'revoked', code: 'AGENT_CREDENTIAL_REVOKED' });
    await here.refresh();
    expect(here.identify(out.credential)).toBeUndefined();
  });

  it('refuses an enrollment of an enrolled id, and says which token is spent or unknown', async () => {
    const a = await auth([]);
    const { token } = await a.createEnrollToken({ uses: 2, ttlMs: 60_000, createdBy: 'ops' });
    expect(await a.enroll('laas-enroll-nope', 'x')).toEqual({ error: 'unknown enrollment token' });
    expect(await a.enroll(token, 'x')).toHaveProperty('credential');
    expect(await a.enroll(token, 'x')).toEqual({ error: 'agent x is already enrolled; revoke it first (laas agents revoke x) to enroll it again' });
    expect(await a.enroll(token, 'y')).toHaveProperty('credential');
    expect(await a.enroll(token, 'z')).toEqual({ error: 'enrollment token already used' });
    expect(await a.forget('x')).toBe('enrolled');
  });

  it('the first token claims an id; entries sharing a name are one claimant (a token rotated under its name keeps its ids)', async () => {
    const a = await auth(['token-a', 'token-b', { token: 'old-fleet', name: 'fleet' }, { token: 'new-fleet', name: 'fleet' }]);
    expect(await a.admit(shared(a, 'token-a'), hello('app-1'), '10.0.0.1:1')).toBeUndefined();
    expect(await a.admit(shared(a, 'token-a'), hello('app-1'), '10.0.0.2:1')).toBeUndefined();
    expect(await a.admit(shared(a, 'token-b'), hello('app-1'), '10.0.0.3:1')).toMatchObject({
      reason: 'claimed',
      code: 'AGENT_ID_CLAIMED',
      message: expect.stringContaining('from 10.0.0.1 at '),
    });
    expect(await a.admit(shared(a, 'old-fleet'), hello('fleet-1'), '10.0.0.4:1')).toBeUndefined();
    expect(await a.admit(shared(a, 'new-fleet'), hello('fleet-1'), '10.0.0.4:1')).toBeUndefined();
    expect(await a.admit(shared(a, 'token-a'), hello('fleet-1'), '10.0.0.4:1')).toMatchObject({
      reason: 'claimed',
      message: expect.stringContaining('(fleet)'),
    });
  });

  it('a restricted token: its ids (exact or glob) and its labels, nothing else', async () => {
    const a = await auth([{ token: 'web', ids: ['web-*', 'lb-1'], labels: { env: 'prod', dc: 'ams' } }]);
    const t = shared(a, 'web');
    expect(await a.admit(t, hello('web-3', { env: 'prod', dc: 'ams', role: 'web' }), '1.1.1.1:1')).toBeUndefined();
    expect(await a.admit(t, hello('lb-1', { env: 'prod', dc: 'ams' }), '1.1.1.1:1')).toBeUndefined();
    expect(await a.admit(t, hello('lb-2', { env: 'prod', dc: 'ams' }), '1.1.1.1:1')).toMatchObject({
      reason: 'not-allowed',
      message: expect.stringContaining('"lb-2" is not one of the ids this token may use (web-*, lb-1)'),
    });
    expect(await a.admit(t, hello('web-4', { env: 'prod' }), '1.1.1.1:1')).toMatchObject({
      reason: 'not-allowed',
      message: expect.stringContaining('label dc=null is not the dc="ams"'),
    });
  });

  it('one token claims at most maxHosts ids', async () => {
    const a = await auth([{ token: 'small', maxHosts: 3 }]);
    const t = shared(a, 'small');
    for (const id of ['a', 'b', 'c']) expect(await a.admit(t, hello(id), '1.1.1.1:1')).toBeUndefined();
    expect(await a.admit(t, hello('d'), '1.1.1.1:1')).toMatchObject({ reason: 'host-limit', code: 'AGENT_HOST_LIMIT' });
    expect(await a.admit(t, hello('a'), '1.1.1.1:1')).toBeUndefined();
    await a.forget('c');
    expect(await a.admit(t, hello('d'), '1.1.1.1:1')).toBeUndefined();
  });
});

describe('refused hellos', () => {
  it('are counted every time, audited once a minute per id, reason and address, and refused even when the audit cannot be written', () => {
    let now = 0;
    const audited: string[] = [];
    const counted: string[] = [];
    let auditFails = false;
    const r = new HelloRefusals({
      audit: (e) => {
        if (auditFails) throw new Error('ENOSPC');
        audited.push(`${e.who} ${e.detail}`);
      },
      count: (reason) => counted.push(reason),
      log: silentLogger,
      now: () => now,
    });
    const refusal = { reason: 'claimed' as const, code: 'AGENT_ID_CLAIMED' as const, message: 'taken' };
    const err = r.refuse(refusal, 'web-1', '10.0.0.1:4000', 'shared token /agentTokens/0 (x)');
    expect(err).toBeInstanceOf(LaasError);
    expect(err.code).toBe('AGENT_ID_CLAIMED');
    r.refuse(refusal, 'web-1', '10.0.0.1:4001', 'x');
    r.refuse(refusal, 'web-2', '10.0.0.1:4002', 'x');
    now = 60_000;
    r.refuse(refusal, 'web-1', '10.0.0.1:4003', 'x');
    expect(counted).toHaveLength(4);
    expect(audited).toEqual([
      'web-1 AGENT_ID_CLAIMED: taken (shared token /agentTokens/0 (x))',
      'web-2 AGENT_ID_CLAIMED: taken (x)',
      'web-1 AGENT_ID_CLAIMED: taken (x)',
    ]);
    auditFails = true;
    expect(r.refuse(refusal, 'web-3', '10.0.0.1:4004', 'x').code).toBe('AGENT_ID_CLAIMED');
  });
});
