import { createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../../../../controller/config.js';
import { NOTIFIER_KINDS } from '../../../../controller/notify/index.js';
import { render, templateProblems } from '../../../../controller/notify/template.js';
import { startJsonReceiver, type JsonReceiver } from '../../../helpers/json-receiver.js';
import { alertNotice, notification, notifierFrom } from '../../../helpers/notices.js';

const never = new AbortController().signal;
const twoFiring = () => notification([alertNotice({ host: 'web-1' }), alertNotice({ host: 'web-2' })]);
const oneResolved = () => notification([alertNotice({ status: 'resolved', endsAt: '2026-01-01T10:05:00.000Z' })]);

let robot: JsonReceiver;
beforeEach(async () => {
  robot = await startJsonReceiver();
});
afterEach(async () => {
  await robot.close();
  delete process.env.LAAS_TEST_ROBOT_SECRET;
});

describe('notifier registry', () => {
  it('has every kind once', () => {
    expect([...NOTIFIER_KINDS.keys()].sort()).toEqual(['alertmanager', 'dingtalk', 'email', 'feishu', 'slack', 'webhook', 'wecom']);
  });
});

describe('slack', () => {
  it('posts an incoming-webhook message: text fallback and one coloured attachment', async () => {
    robot.reply = undefined; // Slack answers a plain "ok"
    await notifierFrom({ type: 'slack', url: `${robot.url}/services/T0/B0/x`, channel: '#ops', username: 'laas' }).send(twoFiring(), never);
    expect(robot.received).toHaveLength(1);
    expect(robot.received[0].path).toBe('/services/T0/B0/x');
    expect(robot.received[0].headers['content-type']).toMatch(/^application\/json/);
    const title = '[FIRING:2] demo-down (web-1, web-2)';
    expect(robot.received[0].body).toEqual({
      channel: '#ops',
      username: 'laas',
      text: title,
      attachments: [
        {
          color: 'danger',
          fallback: title,
          title,
          mrkdwn_in: ['text'],
          text: [
            '• *critical* web-1: demo is down on web-1',
            '    started 2026-01-01T10:00:00.000Z',
            '    <http://laas.test/api/v1/alerts/a-web-1|http://laas.test/api/v1/alerts/a-web-1>',
            '• *critical* web-2: demo is down on web-2',
            '    started 2026-01-01T10:00:00.000Z',
            '    <http://laas.test/api/v1/alerts/a-web-2|http://laas.test/api/v1/alerts/a-web-2>',
          ].join('\n'),
        },
      ],
    });
  });

  it('colours resolved good and a firing warning warning, and escapes alert text for mrkdwn', async () => {
    const slack = notifierFrom({ type: 'slack', url: robot.url });
    await slack.send(oneResolved(), never);
    await slack.send(notification([alertNotice({ severity: 'warning', annotations: { summary: 'disk <@here> & more' } })]), never);
    const [resolved, warning] = robot.received.map((r) => r.body as { text: string; attachments: { color: string; text: string }[] });
    expect(resolved.text).toBe('[RESOLVED] demo-down on web-1');
    expect(resolved.attachments[0].color).toBe('good');
    expect(resolved.attachments[0].text).toContain('started 2026-01-01T10:00:00.000Z, ended 2026-01-01T10:05:00.000Z');
    expect(warning.attachments[0].color).toBe('warning');
    expect(warning.attachments[0].text).toContain('disk &lt;@here&gt; &amp; more');
    await notifierFrom({ type: 'slack', url: robot.url, text: 'Summary: {{summary}}' }).send(
      notification([alertNotice({ annotations: { summary: '<!channel> now' } })]),
      never,
    );
    expect((robot.received[2].body as { attachments: { text: string }[] }).attachments[0].text).toBe('Summary: &lt;!channel&gt; now');
    expect(robot.received[0]).not.toHaveProperty('body.channel');
  });

  it('rejects with the HTTP status when Slack refuses', async () => {
    robot.status = 404;
    robot.reply = 'no_service';
    await expect(notifierFrom({ type: 'slack', url: robot.url }).send(twoFiring(), never)).rejects.toThrow(
      /^slack webhook at 127\.0\.0\.1:\d+ answered HTTP 404: "no_service"$/,
    );
  });
});

describe('dingtalk', () => {
  it('posts a markdown message to the robot URL, unsigned without a secret', async () => {
    await notifierFrom({ type: 'dingtalk', url: `${robot.url}/robot/send?access_token=tok` }).send(oneResolved(), never);
    expect(robot.received[0].path).toBe('/robot/send?access_token=tok');
    expect(robot.received[0].body).toEqual({
      msgtype: 'markdown',
      markdown: {
        title: '[RESOLVED] demo-down on web-1',
        text: '### [RESOLVED] demo-down on web-1\n\n- **critical** web-1: demo is down on web-1\n  started 2026-01-01T10:00:00.000Z, ended 2026-01-01T10:05:00.000Z\n  [http://laas.test/api/v1/alerts/a-web-1](http://laas.test/api/v1/alerts/a-web-1)',
      },
    });
  });

  it('signs with timestamp (ms) and sign = urlencode(base64(HMAC-SHA256(secret, timestamp\\nsecret)))', async () => {
    process.env.LAAS_TEST_ROBOT_SECRET = 'SECabc+/=123';
    const before = Date.now();
    await notifierFrom({ type: 'dingtalk', url: `${robot.url}/robot/send?access_token=tok`, secret: { env: 'LAAS_TEST_ROBOT_SECRET' } }).send(
      twoFiring(),
      never,
    );
    const after = Date.now();
    const path = robot.received[0].path;
    const q = new URL(path, 'http://x').searchParams;
    expect(q.get('access_token')).toBe('tok');
    const ts = Number(q.get('timestamp'));
    expect(ts).toBeGreaterThanOrEqual(before);
    expect(ts).toBeLessThanOrEqual(after);
    const expected = createHmac('sha256', 'SECabc+/=123').update(`${ts}\nSECabc+/=123`).digest('base64');
    expect(q.get('sign')).toBe(expected);
    expect(path).toContain(`&sign=${encodeURIComponent(expected)}`);
  });

  it('rejects with errmsg when the robot answers errcode ≠ 0, and on HTTP 500 or a non-robot answer', async () => {
    const ding = notifierFrom({ type: 'dingtalk', url: `${robot.url}/robot/send?access_token=tok`, secret: 'SECx' });
    robot.reply = { errcode: 310000, errmsg: 'sign not match' };
    await expect(ding.send(twoFiring(), never)).rejects.toThrow(/^dingtalk robot at 127\.0\.0\.1:\d+ refused the message: errcode 310000: sign not match$/);
    robot.status = 500;
    robot.reply = { error: 'boom' };
    await expect(ding.send(twoFiring(), never)).rejects.toThrow(/answered HTTP 500/);
    robot.status = 200;
    robot.reply = undefined;
    await expect(ding.send(twoFiring(), never)).rejects.toThrow(/answered HTTP 200 without its JSON reply/);
  });

  it('never puts the access token in an error message', async () => {
    robot.reply = { errcode: 300001, errmsg: 'token is not exist' };
    const err = await notifierFrom({ type: 'dingtalk', url: `${robot.url}/robot/send?access_token=very-secret-token` })
      .send(twoFiring(), never)
      .catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).not.toContain('very-secret-token');
  });
});

describe('feishu', () => {
  it('posts a text message, signed in the body with timestamp (s) and sign = base64(HMAC-SHA256(timestamp\\nsecret, ""))', async () => {
    robot.reply = { StatusCode: 0, StatusMessage: 'success', code: 0, data: {}, msg: 'success' };
    const before = Math.floor(Date.now() / 1000);
    await notifierFrom({ type: 'feishu', url: `${robot.url}/open-apis/bot/v2/hook/abc`, secret: 'fs-secret' }).send(twoFiring(), never);
    const after = Math.floor(Date.now() / 1000);
    const body = robot.received[0].body as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['content', 'msg_type', 'sign', 'timestamp']);
    expect(body.msg_type).toBe('text');
    expect(typeof body.timestamp).toBe('string');
    const ts = Number(body.timestamp);
    expect(ts).toBeGreaterThanOrEqual(before);
    expect(ts).toBeLessThanOrEqual(after);
    expect(body.sign).toBe(
      createHmac('sha256', `${body.timestamp as string}\nfs-secret`)
        .update('')
        .digest('base64'),
    );
    expect((body.content as { text: string }).text).toBe(
      [
        '[FIRING:2] demo-down (web-1, web-2)',
        '',
        '- [critical] web-1: demo is down on web-1',
        '  started 2026-01-01T10:00:00.000Z',
        '  http://laas.test/api/v1/alerts/a-web-1',
        '- [critical] web-2: demo is down on web-2',
        '  started 2026-01-01T10:00:00.000Z',
        '  http://laas.test/api/v1/alerts/a-web-2',
      ].join('\n'),
    );
  });

  it('sends no timestamp or sign without a secret', async () => {
    robot.reply = { code: 0, msg: 'success' };
    await notifierFrom({ type: 'feishu', url: robot.url }).send(oneResolved(), never);
    expect(Object.keys(robot.received[0].body as object).sort()).toEqual(['content', 'msg_type']);
  });

  it('rejects with msg when the bot answers a non-zero code', async () => {
    robot.reply = { code: 19021, data: {}, msg: 'sign match fail or timestamp is not within one hour from current time' };
    await expect(notifierFrom({ type: 'feishu', url: robot.url, secret: 'x' }).send(twoFiring(), never)).rejects.toThrow(
      /feishu bot at 127\.0\.0\.1:\d+ refused the message: code 19021: sign match fail/,
    );
    robot.reply = { StatusCode: 9499, StatusMessage: 'Bad Request' };
    await expect(notifierFrom({ type: 'feishu', url: robot.url }).send(twoFiring(), never)).rejects.toThrow(/StatusCode 9499: Bad Request/);
  });
});

describe('wecom', () => {
  it('posts a markdown message to the robot URL with its key', async () => {
    await notifierFrom({ type: 'wecom', url: `${robot.url}/cgi-bin/webhook/send?key=k-1` }).send(twoFiring(), never);
    expect(robot.received[0].path).toBe('/cgi-bin/webhook/send?key=k-1');
    expect(robot.received[0].body).toEqual({
      msgtype: 'markdown',
      markdown: {
        content: [
          '### <font color="warning">[FIRING:2] demo-down (web-1, web-2)</font>',
          '- **critical** web-1: demo is down on web-1',
          '  started 2026-01-01T10:00:00.000Z',
          '  [http://laas.test/api/v1/alerts/a-web-1](http://laas.test/api/v1/alerts/a-web-1)',
          '- **critical** web-2: demo is down on web-2',
          '  started 2026-01-01T10:00:00.000Z',
          '  [http://laas.test/api/v1/alerts/a-web-2](http://laas.test/api/v1/alerts/a-web-2)',
        ].join('\n'),
      },
    });
  });

  it('keeps content within 4096 bytes however many alerts there are', async () => {
    const many = notification(Array.from({ length: 200 }, (_, i) => alertNotice({ host: `web-${i}` })));
    await notifierFrom({ type: 'wecom', url: `${robot.url}/?key=k` }).send(many, never);
    const content = (robot.received[0].body as { markdown: { content: string } }).markdown.content;
    expect(Buffer.byteLength(content)).toBeLessThanOrEqual(4096);
    expect(content.endsWith('\n…')).toBe(true);
    expect(content).toContain('[FIRING:200] demo-down (web-0, web-1, web-2 and 197 more)');
  });

  it('rejects with errmsg when the robot answers errcode ≠ 0', async () => {
    robot.reply = { errcode: 93000, errmsg: 'invalid webhook url' };
    await expect(notifierFrom({ type: 'wecom', url: `${robot.url}/?key=k` }).send(twoFiring(), never)).rejects.toThrow(
      /^wecom robot at 127\.0\.0\.1:\d+ refused the message: errcode 93000: invalid webhook url$/,
    );
  });
});

describe('templates', () => {
  it('renders every placeholder in user title and text', async () => {
    await notifierFrom({
      type: 'wecom',
      url: `${robot.url}/?key=k`,
      title: '{{ status }}/{{count}} {{alertname}} @ {{host}} [{{severity}}] for {{receiver}}',
      text: 'summary: {{summary}}\n{{alerts}}',
    }).send(twoFiring(), never);
    expect((robot.received[0].body as { markdown: { content: string } }).markdown.content).toBe(
      [
        '### <font color="warning">firing/2 demo-down @ web-1, web-2 [critical] for ops</font>',
        'summary: demo is down on web-1; demo is down on web-2',
        '- **critical** web-1: demo is down on web-1',
        '  started 2026-01-01T10:00:00.000Z',
        '  [http://laas.test/api/v1/alerts/a-web-1](http://laas.test/api/v1/alerts/a-web-1)',
        '- **critical** web-2: demo is down on web-2',
        '  started 2026-01-01T10:00:00.000Z',
        '  [http://laas.test/api/v1/alerts/a-web-2](http://laas.test/api/v1/alerts/a-web-2)',
      ].join('\n'),
    );
  });

  it('substitutes values once: alert text that looks like a placeholder stays as it is', () => {
    const n = notification([alertNotice({ annotations: { summary: '{{receiver}} {{constructor}}' } })]);
    expect(render(n, { text: '{{summary}}' }, 'plain').text).toBe('{{receiver}} {{constructor}}');
  });

  it('escapes alert text in HTML, in the default body and in a user template', () => {
    const n = notification([alertNotice({ host: 'web-"1"', annotations: { summary: '<script>alert(1)</script> & co' } })]);
    for (const r of [render(n, {}, 'plain'), render(n, { text: '<b>{{summary}}</b>' }, 'plain')]) {
      expect(r.html).not.toContain('<script>');
      expect(r.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; co');
    }
    expect(render(n, {}, 'plain').html).toContain('<a href="http://laas.test/api/v1/alerts/a-web-%221%22">');
  });

  it('finds unknown placeholders and unclosed braces', () => {
    expect(templateProblems('[{{status}}] {{ alertname }}')).toEqual([]);
    expect(templateProblems('{{nope}}')).toEqual([expect.stringMatching(/^unknown placeholder \{\{nope\}\}; known: \{\{status\}\}, /)]);
    expect(templateProblems('{{status')).toEqual(['"{{" without a closing "}}"; placeholders look like {{status}}']);
  });
});

describe('receiver config at start-up', () => {
  const load = (receivers: Record<string, unknown>) => () => parseControllerConfig({ agentTokens: ['t'], receivers }, 'controller.json');

  it('accepts a valid receiver of every kind', () => {
    process.env.LAAS_TEST_ROBOT_SECRET = 'SECx';
    expect(
      load({
        s: { type: 'slack', url: 'https://hooks.slack.com/services/T/B/x', title: '{{alertname}}' },
        d: { type: 'dingtalk', url: 'https://oapi.dingtalk.com/robot/send?access_token=x', secret: { env: 'LAAS_TEST_ROBOT_SECRET' } },
        f: { type: 'feishu', url: 'https://open.feishu.cn/open-apis/bot/v2/hook/x', secret: 'y' },
        w: { type: 'wecom', url: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x' },
        m: {
          type: 'email',
          smtp: { host: 'smtp.example.com', port: 587, auth: { user: 'u', pass: 'p' } },
          from: 'laas <laas@example.com>',
          to: ['ops@example.com'],
          subject: '{{status}}',
        },
        a: { type: 'alertmanager', url: 'http://127.0.0.1:9093', resendInterval: '30s' },
      }),
    ).not.toThrow();
  });

  it.each([
    [
      'a bad placeholder',
      { ops: { type: 'slack', url: 'https://hooks.slack.com/x', title: '{{alert_name}}' } },
      'controller.json /receivers/ops/title: unknown placeholder {{alert_name}}; known: {{status}}',
    ],
    ['a non-http URL', { ops: { type: 'slack', url: 'ftp://hooks.slack.com/x' } }, 'controller.json /receivers/ops/url: expected the incoming-webhook URL'],
    [
      'a dingtalk URL without access_token',
      { ding: { type: 'dingtalk', url: 'https://oapi.dingtalk.com/robot/send' } },
      'controller.json /receivers/ding/url: expected the robot webhook URL with its access_token',
    ],
    [
      'a wecom URL without key',
      { wc: { type: 'wecom', url: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send' } },
      'controller.json /receivers/wc/url: expected the robot webhook URL with its key',
    ],
    [
      'an unset secret',
      { ding: { type: 'dingtalk', url: 'https://x.test/?access_token=t', secret: { env: 'LAAS_TEST_UNSET_SECRET' } } },
      'controller.json /receivers/ding/secret: environment variable LAAS_TEST_UNSET_SECRET is not set',
    ],
    [
      'no email recipients',
      { mail: { type: 'email', smtp: { host: 'h', port: 25 }, from: 'a@b.c', to: [] } },
      'controller.json /receivers/mail/to: expected at least one recipient',
    ],
    [
      'a bad email address',
      { mail: { type: 'email', smtp: { host: 'h', port: 25 }, from: 'a@b.c', to: ['ops'] } },
      'controller.json /receivers/mail/to/0: expected an email address',
    ],
    [
      'a missing smtp port',
      { mail: { type: 'email', smtp: { host: 'h' }, from: 'a@b.c', to: ['o@b.c'] } },
      'controller.json /receivers/mail/smtp/port: expected a port number',
    ],
    [
      'too short a resend interval',
      { am: { type: 'alertmanager', url: 'http://127.0.0.1:9093', resendInterval: '500ms' } },
      'controller.json /receivers/am/resendInterval: must be at least "1s"',
    ],
    [
      'an unknown field',
      { ops: { type: 'feishu', url: 'https://x.test/', sekret: 'x' } },
      /^controller\.json \/receivers\/ops: (Unrecognized key: |unknown field )"sekret"$/m,
    ],
  ] as [string, Record<string, unknown>, string | RegExp][])('fails on %s with file, pointer and message', (_, receivers, message) => {
    expect(load(receivers)).toThrow(message);
  });
});
