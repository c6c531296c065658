import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_TOKEN, Fleet } from '../helpers/fleet.js';
import { laasRun, logLines, stopAll, waitFor } from '../helpers/procs.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { SimAgent } from '../helpers/sim-agent.js';

interface LogEntry {
  outcome: string;
  reason?: string;
  alerts: { alertname: string; host: string }[];
}
interface SilenceView {
  id: string;
  state: string;
  problem?: string;
}

const down = { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] };
const json = { 'content-type': 'application/json' };

/**
 * Silences against a real controller process: a silence that cannot be applied must never take
 * the controller down (it is persisted, so a crash would repeat at every start), and no pattern
 * may stall it.
 */
describe('silences that could crash or stall the controller', () => {
  const fleet = new Fleet();
  let receiver: Receiver;
  const agents: SimAgent[] = [];
  const faultOn = async (id: string) => {
    const a = new SimAgent(fleet.url, AGENT_TOKEN, id, { role: 'web' }, 60_000);
    a.services.svc = { up: true, since: Date.now() };
    agents.push(a);
    await a.connect();
    a.setService('svc', false);
  };
  const logged = (host: string) =>
    waitFor(
      `the notification log entry for ${host}`,
      async () => (await fleet.api<LogEntry[]>('/api/v1/notifications')).find((e) => e.alerts[0]?.host === host),
      10_000,
    );

  beforeAll(async () => {
    receiver = await startReceiver();
    fleet.rule('web', 'svc-down', { when: down, notify: ['ops'] });
  });

  afterAll(async () => {
    for (const a of agents) a.stop();
    await stopAll();
    await receiver?.close();
    await fleet.cleanup();
  });

  it('a stored silence with a bad regex is skipped with one logged error after a restart; the others keep working', async () => {
    const config = { receivers: { ops: { type: 'webhook', url: receiver.url } } };
    await fleet.startController(config);
    const add = await fleet.fetch('/api/v1/silences', { method: 'POST', headers: json, body: JSON.stringify({ matchers: ['host=quiet-1'], duration: '1h' }) });
    expect(add.status).toBe(201);
    const quiet = ((await add.json()) as { id: string }).id;
    await fleet.controller!.stop();
    // As an older laas (which checked no object-form regex) or a hand edit left it in the data file.
    const file = join(fleet.dataDir, 'laas.json');
    const data = JSON.parse(readFileSync(file, 'utf8')) as { state: { silences: Record<string, unknown>[] } };
    data.state.silences.push({ ...data.state.silences[0], id: 'bad-regex', matchers: [{ name: 'host', value: '(', isRegex: true, isEqual: true }] });
    writeFileSync(file, JSON.stringify(data));

    const controller = await fleet.startController(config);
    const invalid = () => logLines(controller.stderr()).filter((l) => l.code === 'SILENCE_INVALID');
    expect(invalid()).toEqual([
      expect.objectContaining({
        level: 50,
        silence: 'bad-regex',
        msg: expect.stringContaining('stored silence bad-regex is invalid and is skipped: /matchers/0/value: invalid regular expression'),
      }),
    ]);
    expect((await fleet.api<SilenceView[]>('/api/v1/silences')).map((s) => [s.id, s.state])).toEqual([
      [quiet, 'active'],
      ['bad-regex', 'invalid'],
    ]);

    // Flushes look at every silence: the good one mutes, the bad one is skipped, nothing throws.
    await faultOn('quiet-1');
    await faultOn('loud-1');
    expect(await logged('quiet-1')).toMatchObject({ outcome: 'muted', reason: `silenced by ${quiet} (anonymous)` });
    expect(await logged('loud-1')).toMatchObject({ outcome: 'sent' });
    expect(controller.child.exitCode).toBeNull();
    expect(invalid()).toHaveLength(1); // once, not at every flush

    expect((await laasRun(['silence', 'list', '--url', fleet.url])).stdout).toMatch(
      /^bad-regex {2}invalid {2}\/matchers\/0\/value: invalid regular expression .* \(remove it: laas silence expire bad-regex\)$/m,
    );
    // It can be removed by hand.
    const expired = await laasRun(['silence', 'expire', 'bad-regex', '--url', fleet.url]);
    expect(expired.stdout).toBe('silence bad-regex expired\n');
    expect((await fleet.api<SilenceView[]>('/api/v1/silences')).map((s) => s.id)).toEqual([quiet]);
  });

  it("refuses a bad regex at the API in both forms, with the matcher's position", async () => {
    const post = async (matchers: unknown[]) => {
      const r = await fleet.fetch('/api/v1/silences', { method: 'POST', headers: json, body: JSON.stringify({ matchers, duration: '1h' }) });
      return { status: r.status, body: (await r.json()) as { error: { code: string; message: string } } };
    };
    expect(await post(['alertname=svc-down', 'env=prod', { name: 'host', value: '(', isRegex: true }])).toEqual({
      status: 400,
      body: {
        error: {
          code: 'API_BAD_REQUEST',
          message: 'request body /matchers/2/value: invalid regular expression (RE2 syntax, as in Alertmanager): missing closing ): `(`',
        },
      },
    });
    expect((await post(['alertname=svc-down', 'host=~web-(1'])).body.error.message).toMatch(
      /^request body \/matchers\/1: bad regex in matcher "host=~web-\(1": invalid regular expression/,
    );
    expect(fleet.controller!.child.exitCode).toBeNull();
  });

  it('a catastrophic-backtracking pattern is evaluated in linear time: the alert it covers is muted, and the API answers', async () => {
    // A backtracking engine tries ~2^60 ways to split these a's before failing: hours, with the
    // event loop held. RE2 makes one pass.
    const evil = `${'a'.repeat(60)}b`;
    const r = await fleet.fetch('/api/v1/silences', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ matchers: ['alertname=svc-down', 'host!~(a+)+'], duration: '1h', comment: 'redos' }),
    });
    expect(r.status).toBe(201);
    const { id } = (await r.json()) as { id: string };
    await faultOn(evil);
    expect(await logged(evil)).toMatchObject({ outcome: 'muted', reason: `silenced by ${id} (anonymous: redos)` });
    expect((await fleet.fetch('/healthz')).status).toBe(200);
  });
});
