import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { decode, encode } from '../../protocol/index.js';
import { AGENT_TOKEN, Fleet } from '../helpers/fleet.js';
import { laasRun, stopAll, waitFor } from '../helpers/procs.js';
import { SimAgent } from '../helpers/sim-agent.js';

interface Audit {
  who: string;
  role: string;
  action: string;
  result: string;
  detail?: string;
  from: string;
}
interface Host {
  id: string;
  connected: boolean;
}

const WEB_TOKEN = 'web-only-token-0123456789abcdef';
const OTHER_TOKEN = 'other-team-token-0123456789abcd';
const SMALL_TOKEN = 'small-token-0123456789abcdefghij';

/** One hello on a fresh link: welcomed (the link is kept open for the caller), or closed with this code and reason. */
async function helloOnce(
  url: string,
  token: string,
  agentId: string,
  labels: Record<string, string> = {},
): Promise<{ welcomed: true; ws: WebSocket } | { welcomed: false; code: number; reason: string }> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/agent`, { headers: { authorization: `Bearer ${token}` } });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no welcome and no close for ${agentId} within 10 s`));
    }, 10_000);
    ws.on('open', () =>
      ws.send(
        encode('hello', {
          agentId,
          agentVersion: 'test',
          hostname: agentId,
          labels,
          os: { platform: 'linux', release: 'test' },
          intervalMs: 60_000,
          services: [],
          actions: [],
          scripts: [],
        }),
      ),
    );
    ws.on('message', (d) => {
      if (decode(d).type === 'welcome') {
        clearTimeout(timer);
        resolve({ welcomed: true, ws });
      }
    });
    ws.on('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ welcomed: false, code, reason: reason.toString() });
    });
    ws.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/**
 * Who may say hello as which agent id. An enrolled id answers only to its own credential; a
 * shared token may be restricted to ids and labels; the first token to say hello as an id
 * claims it, across restarts, and another token is refused until an operator frees the id;
 * one token claims a bounded number of ids. Every refusal closes the link with its code, and
 * is counted and audited.
 */
describe('agent identity at hello', () => {
  const fleet = new Fleet();
  const sims: SimAgent[] = [];
  const open: WebSocket[] = [];
  const config = {
    agentTokens: [
      AGENT_TOKEN,
      { token: WEB_TOKEN, name: 'web', ids: ['web-*', 'edge-1'], labels: { env: 'prod' } },
      { token: { env: 'LAAS_TEST_OTHER_TOKEN' }, name: 'other' },
      { token: SMALL_TOKEN, maxHosts: 2 },
    ],
  };
  const hello = async (token: string, id: string, labels: Record<string, string> = {}) => {
    const out = await helloOnce(fleet.url, token, id, labels);
    if (out.welcomed) open.push(out.ws);
    return out;
  };
  const refusedWith = (code: string) => expect.objectContaining({ welcomed: false, code: 1008, reason: expect.stringMatching(new RegExp(`^${code}: `)) });
  const metric = async (reason: string) => {
    const text = await (await fleet.fetch('/metrics')).text();
    return Number(new RegExp(`^laas_link_hellos_refused_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  };
  const audit = () => fleet.api<Audit[]>('/api/v1/audit?limit=500');

  beforeAll(async () => {
    process.env.LAAS_TEST_OTHER_TOKEN = OTHER_TOKEN;
    await fleet.startController(config);
  });

  afterAll(async () => {
    for (const s of sims) s.stop();
    for (const ws of open) ws.terminate();
    await stopAll();
    await fleet.cleanup();
    delete process.env.LAAS_TEST_OTHER_TOKEN;
  });

  it('a shared token cannot say hello as an enrolled host, and the enrolled link stays', async () => {
    const post = (path: string, body: unknown) =>
      fleet.api<Record<string, string>>(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const { token } = await post('/api/v1/enroll-tokens', { uses: 1 });
    const { credential } = await post('/v1/enroll', { token, agentId: 'db-1' });
    const enrolled = new SimAgent(fleet.url, credential, 'db-1', { role: 'db' });
    sims.push(enrolled);
    await enrolled.connect();

    expect(await hello(AGENT_TOKEN, 'db-1')).toEqual(refusedWith('AGENT_ID_ENROLLED'));
    // The real db-1 was not replaced: still connected, never dropped.
    expect(enrolled.welcomed).toBe(true);
    expect((await fleet.api<Host[]>('/api/v1/hosts')).find((h) => h.id === 'db-1')?.connected).toBe(true);
    expect(await metric('enrolled')).toBe(1);
    expect(await audit()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          who: 'db-1',
          role: 'agent',
          action: 'agent hello',
          result: 'denied',
          detail: expect.stringMatching(/^AGENT_ID_ENROLLED: .*only its own credential.*\(shared token \/agentTokens\/0 \(fp:[0-9a-f]{16}\)\)$/),
        }),
      ]),
    );

    // Revoked, the id is still not up for grabs by a shared token until an operator frees it.
    expect((await fleet.fetch('/api/v1/agents/db-1', { method: 'DELETE' })).status).toBe(200);
    await waitFor('the revoked agent dropped', async () => !(await fleet.api<Host[]>('/api/v1/hosts')).find((h) => h.id === 'db-1')?.connected);
    enrolled.stop();
    expect(await hello(AGENT_TOKEN, 'db-1')).toEqual(refusedWith('AGENT_ID_ENROLLED'));
    const forgot = await laasRun(['agents', 'forget', 'db-1', '--url', fleet.url]);
    expect(forgot.stdout).toBe('agent id db-1 forgotten; the next hello as it claims it\n');
    expect(await hello(AGENT_TOKEN, 'db-1')).toMatchObject({ welcomed: true });
  });

  it('a restricted token says hello only as its ids, with its labels', async () => {
    expect(await hello(WEB_TOKEN, 'db-9', { env: 'prod' })).toEqual(refusedWith('AGENT_ID_NOT_ALLOWED'));
    expect(await hello(WEB_TOKEN, 'web-1', { env: 'dev' })).toEqual(refusedWith('AGENT_ID_NOT_ALLOWED'));
    expect(await hello(WEB_TOKEN, 'web-1', {})).toEqual(refusedWith('AGENT_ID_NOT_ALLOWED'));
    expect(await hello(WEB_TOKEN, 'web-1', { env: 'prod', role: 'web' })).toMatchObject({ welcomed: true });
    expect(await hello(WEB_TOKEN, 'edge-1', { env: 'prod' })).toMatchObject({ welcomed: true });
    expect(await hello(WEB_TOKEN, 'edge-10', { env: 'prod' })).toEqual(refusedWith('AGENT_ID_NOT_ALLOWED'));
    expect(await metric('not-allowed')).toBe(4);
    const denied = (await audit()).filter((e) => e.action === 'agent hello' && e.detail?.startsWith('AGENT_ID_NOT_ALLOWED'));
    expect(denied.map((e) => e.who).sort()).toEqual(['db-9', 'edge-10', 'web-1']); // web-1 twice within a minute: audited once
  });

  it('the first token to say hello as an id keeps it, across a controller restart; another is refused until the id is forgotten', async () => {
    expect(await hello(AGENT_TOKEN, 'app-1')).toMatchObject({ welcomed: true });
    expect(await hello(OTHER_TOKEN, 'app-1')).toEqual(refusedWith('AGENT_ID_CLAIMED'));
    // The web token's own ids are its: the shared token may not have them either.
    expect(await hello(AGENT_TOKEN, 'web-1')).toEqual(refusedWith('AGENT_ID_CLAIMED'));
    expect(await metric('claimed')).toBe(2);

    await fleet.controller!.stop();
    for (const ws of open.splice(0)) ws.terminate();
    await fleet.startController(config);
    expect(await hello(AGENT_TOKEN, 'app-1')).toMatchObject({ welcomed: true });
    expect(await hello(OTHER_TOKEN, 'app-1')).toEqual(refusedWith('AGENT_ID_CLAIMED'));
    expect(await hello(WEB_TOKEN, 'web-1', { env: 'prod' })).toMatchObject({ welcomed: true });

    // An operator moves app-1 to the other team's token: forget, then the next hello claims it.
    const forgot = await fleet.fetch('/api/v1/agents/app-1/claim', { method: 'DELETE' });
    expect(forgot.status).toBe(200);
    expect(await hello(OTHER_TOKEN, 'app-1')).toMatchObject({ welcomed: true });
    expect(await hello(AGENT_TOKEN, 'app-1')).toEqual(refusedWith('AGENT_ID_CLAIMED'));
    expect((await fleet.fetch('/api/v1/agents/never-seen/claim', { method: 'DELETE' })).status).toBe(404);
  });

  it('one token claims at most maxHosts ids; its hosts keep coming back', async () => {
    expect(await hello(SMALL_TOKEN, 's-1')).toMatchObject({ welcomed: true });
    expect(await hello(SMALL_TOKEN, 's-2')).toMatchObject({ welcomed: true });
    const third = await hello(SMALL_TOKEN, 's-3');
    expect(third).toEqual(refusedWith('AGENT_HOST_LIMIT'));
    expect(third.welcomed === false && third.reason).toContain('maxHosts 2');
    expect(await hello(SMALL_TOKEN, 's-1')).toMatchObject({ welcomed: true });
    expect(await metric('host-limit')).toBe(1);
    expect((await fleet.api<Host[]>('/api/v1/hosts')).map((h) => h.id)).not.toContain('s-3');
  });
});
