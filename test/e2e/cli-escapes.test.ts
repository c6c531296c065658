import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { decode, encode } from '../../protocol/index.js';
import { AGENT_TOKEN, Fleet } from '../helpers/fleet.js';
import { laasRun, stopAll, waitFor } from '../helpers/procs.js';

interface Heal {
  id: string;
  host: string;
  state: string;
  reason: string;
}

// Sets the terminal's title, then clears the screen; a one-byte CSI (C1) that turns text red.
const ESC = '\u001b]0;pwned\u0007\u001b[2J';
const C1 = '\u009b31m';
/** Any raw control character a terminal would act on. */
// eslint-disable-next-line no-control-regex -- control characters are what this test looks for
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

/**
 * Text from agents (an action's error message) and from other API users (a silence comment)
 * reaches an operator's terminal through the CLI: escaped for people, exact with --json.
 */
describe('the CLI prints what others wrote without letting it drive the terminal', () => {
  const fleet = new Fleet();
  let ws: WebSocket | undefined;

  beforeAll(async () => {
    fleet.rule('esc', 'svc-down', {
      when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] },
      heal: { action: 'service.restart', params: { service: 'svc' } },
    });
    await fleet.startController();
  });
  afterAll(async () => {
    ws?.terminate();
    await stopAll();
    await fleet.cleanup();
  });

  it('a silence comment with an ESC sequence, in laas silence list', async () => {
    const r = await fleet.fetch('/api/v1/silences', {
      method: 'POST',
      body: JSON.stringify({ matchers: ['host=web-1'], comment: `swap ${ESC} ${C1}`, duration: '1h' }),
    });
    expect(r.status).toBe(201);
    const list = await laasRun(['silence', 'list', '--url', fleet.url]);
    expect(list.stdout).not.toMatch(RAW);
    expect(list.stdout).toContain('(anonymous: swap \\x1b]0;pwned\\x07\\x1b[2J \\x9b31m)');
    const json = await laasRun(['silence', 'list', '--json', '--url', fleet.url]);
    expect((JSON.parse(json.stdout) as { comment: string }[])[0].comment).toBe(`swap ${ESC} ${C1}`);
  });

  it("an agent's error message with an ESC sequence, in laas heals and the work order's story", async () => {
    // A peer speaking the real protocol whose restart "fails" with a hostile message.
    ws = new WebSocket(`${fleet.url.replace(/^http/, 'ws')}/v1/agent`, { headers: { authorization: `Bearer ${AGENT_TOKEN}` } });
    ws.on('open', () =>
      ws!.send(
        encode('hello', {
          agentId: 'esc-1',
          agentVersion: 'raw',
          hostname: 'esc-1',
          labels: {},
          os: { platform: 'linux', release: 'raw' },
          intervalMs: 60_000,
          services: ['svc'],
          actions: ['service.restart'],
          scripts: [],
        }),
      ),
    );
    ws.on('message', (d) => {
      const msg = decode(d);
      if (msg.type === 'welcome')
        ws!.send(encode('sample', { seq: 1, ts: Date.now(), trigger: 'service-change', service: { svc: { up: false, since: Date.now() } } }));
      if (msg.type === 'run') {
        ws!.send(encode('ack', { id: msg.body.id }));
        ws!.send(
          encode('result', {
            id: msg.body.id,
            action: msg.body.action,
            outcome: 'failed',
            exitCode: null,
            signal: null,
            stdout: '',
            stderr: '',
            truncated: false,
            startedAt: Date.now(),
            durationMs: 1,
            error: { code: 'ACTION_SPAWN_FAILED', message: `no such unit ${ESC}${C1}` },
          }),
        );
      }
    });
    const heal = await waitFor(
      'the failed work order',
      async () => (await fleet.api<Heal[]>('/api/v1/heals?host=esc-1')).find((h) => h.state === 'failed' && h.reason.includes('no such unit')),
      15_000,
    );
    expect(heal.reason).toContain(ESC); // the record itself keeps what the agent said

    const table = await laasRun(['heals', '--url', fleet.url]);
    expect(table.stdout).toContain('esc-1');
    expect(table.stdout).not.toMatch(RAW);
    const story = await laasRun(['heals', heal.id, '--url', fleet.url]);
    expect(story.stdout).toContain('no such unit \\x1b]0;pwned\\x07\\x1b[2J\\x9b31m');
    expect(story.stdout).not.toMatch(RAW);
    const json = await laasRun(['heals', heal.id, '--json', '--url', fleet.url]);
    expect((JSON.parse(json.stdout) as Heal).reason).toContain(ESC);
  });
});
