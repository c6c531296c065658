import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { labelName, type PostableAlert } from '../../../../controller/notify/alertmanager.js';
import { startJsonReceiver, type JsonReceiver } from '../../../helpers/json-receiver.js';
import { alertNotice, notification, notifierFrom } from '../../../helpers/notices.js';
import { waitFor } from '../../../helpers/procs.js';

const never = new AbortController().signal;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let am: JsonReceiver;
beforeEach(async () => {
  am = await startJsonReceiver(undefined);
});
afterEach(async () => {
  await am.close();
});

const batches = () => am.received.map((r) => r.body as PostableAlert[]);

describe('alertmanager notifier (against a stand-in receiver)', () => {
  it('posts to {url}/api/v2/alerts, firing with endsAt = now + 4 × resendInterval', async () => {
    const n = notifierFrom({ type: 'alertmanager', url: `${am.url}/am/`, resendInterval: '1m' });
    const before = Date.now();
    await n.send(notification([alertNotice()]), never);
    n.close?.();
    expect(am.received[0].path).toBe('/am/api/v2/alerts');
    const [alert] = batches()[0];
    expect(alert).toEqual({
      labels: { alertname: 'demo-down', rule: 'demo/demo-down', namespace: 'demo', host: 'web-1', severity: 'critical' },
      annotations: { summary: 'demo is down on web-1' },
      startsAt: '2026-01-01T10:00:00.000Z',
      endsAt: expect.any(String),
      generatorURL: 'http://laas.test/api/v1/alerts/a-web-1',
    });
    expect(Date.parse(alert.endsAt!)).toBeGreaterThanOrEqual(before + 240_000);
    expect(Date.parse(alert.endsAt!)).toBeLessThanOrEqual(Date.now() + 240_000);
  });

  it('re-sends firing alerts but not heal notices, which Alertmanager resolves at their endsAt', async () => {
    const n = notifierFrom({ type: 'alertmanager', url: am.url, resendInterval: '1s' });
    const heal = alertNotice({ host: 'web-9', labels: { alertname: 'laas-heal-escalation', host: 'web-9', severity: 'critical' }, fingerprint: 'heal' });
    await n.send(notification([alertNotice(), heal]), never);
    // The first re-send, however late a loaded machine makes it; closing then stops the next.
    await waitFor('the first re-send', () => batches().length >= 2, 10_000, 10);
    n.close?.();
    const sent = batches();
    expect(sent.length).toBe(2);
    expect(sent[0].map((a) => a.labels.alertname)).toEqual(['demo-down', 'laas-heal-escalation']);
    expect(sent[1].map((a) => a.labels.alertname)).toEqual(['demo-down']);
  });

  it('sends a resolved alert once with an endsAt not after now, then stops re-sending it', async () => {
    const n = notifierFrom({ type: 'alertmanager', url: am.url, resendInterval: '1s' });
    await n.send(notification([alertNotice()]), never);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const before = Date.now();
    await n.send(notification([alertNotice({ status: 'resolved', endsAt: future })]), never);
    await sleep(1300);
    n.close?.();
    expect(batches()).toHaveLength(2);
    const ends = Date.parse(batches()[1][0].endsAt!);
    expect(ends).toBeGreaterThanOrEqual(before);
    expect(ends).toBeLessThanOrEqual(Date.now());
  });

  it('rewrites label names Alertmanager would refuse', () => {
    expect(labelName('app.kubernetes.io/name')).toBe('app_kubernetes_io_name');
    expect(labelName('1st')).toBe('_1st');
    expect(labelName('ok_Name9')).toBe('ok_Name9');
  });

  it('rejects with the status and reason when Alertmanager refuses', async () => {
    am.status = 400;
    am.reply = 'invalid label set';
    const n = notifierFrom({ type: 'alertmanager', url: am.url });
    await expect(n.send(notification([alertNotice()]), never)).rejects.toThrow(/^alertmanager at 127\.0\.0\.1:\d+ answered HTTP 400: "invalid label set"$/);
    n.close?.();
  });
});
