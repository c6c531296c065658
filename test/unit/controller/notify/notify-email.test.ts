import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';
import { alertNotice, notification, notifierFrom } from '../../../helpers/notices.js';
import { freePort } from '../../../helpers/procs.js';

interface Mail {
  from: string;
  to: string[];
  raw: string;
}

/** A real SMTP server on 127.0.0.1 (no TLS) that wants user "laas" / password "s3cret" and keeps every message. */
async function startSmtp(): Promise<{ port: number; mails: Mail[]; close(): Promise<void> }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === 'laas' && auth.password === 's3cret') cb(null, { user: auth.username });
      else cb(new Error('Invalid username or password'));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const addr = (a: SMTPServerAddress | false) => (a ? a.address : '');
        mails.push({ from: addr(session.envelope.mailFrom), to: session.envelope.rcptTo.map(addr), raw: Buffer.concat(chunks).toString() });
        cb();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.server.address() as { port: number };
  return { port, mails, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Just enough MIME: the decoded bodies of a multipart message's parts, by content type. */
function parts(raw: string): Record<string, string> {
  const boundary = /boundary="?([^";\r\n]+)"?/.exec(raw)?.[1];
  if (!boundary) throw new Error(`not multipart:\n${raw}`);
  const out: Record<string, string> = {};
  for (const part of raw.split(`--${boundary}`).slice(1, -1)) {
    const [head, ...rest] = part.replace(/^\r\n/, '').split('\r\n\r\n');
    const body = rest.join('\r\n\r\n');
    const type = /^Content-Type:\s*([^;\r\n]+)/im.exec(head)?.[1].trim() ?? '';
    const enc = /^Content-Transfer-Encoding:\s*(\S+)/im.exec(head)?.[1].toLowerCase();
    out[type] =
      enc === 'base64'
        ? Buffer.from(body, 'base64').toString()
        : enc === 'quoted-printable'
          ? Buffer.from(
              body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
              'latin1',
            ).toString()
          : body;
  }
  return out;
}

function header(raw: string, name: string): string | undefined {
  const head = raw.split('\r\n\r\n')[0].replace(/\r\n[ \t]+/g, ' ');
  return new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(head)?.[1];
}

const never = new AbortController().signal;
const firing = () => notification([alertNotice({ host: 'web-1' }), alertNotice({ host: 'web-2', annotations: { summary: 'disk <full> & slow on web-2' } })]);

let smtp: Awaited<ReturnType<typeof startSmtp>>;
beforeEach(async () => {
  smtp = await startSmtp();
  process.env.LAAS_TEST_SMTP_PASS = 's3cret';
});
afterEach(async () => {
  await smtp.close();
  delete process.env.LAAS_TEST_SMTP_PASS;
});

const config = (over: Record<string, unknown> = {}) => ({
  type: 'email',
  smtp: { host: '127.0.0.1', port: smtp.port, ignoreTLS: true, auth: { user: 'laas', pass: { env: 'LAAS_TEST_SMTP_PASS' } } },
  from: 'laas <laas@example.com>',
  to: ['ops@example.com', 'oncall@example.com'],
  timeout: '5s',
  ...over,
});

describe('email notifier', () => {
  it('sends a multipart mail with a plain-text and an HTML body to every recipient', async () => {
    const mailer = notifierFrom(config());
    await mailer.send(firing(), never);
    mailer.close?.();
    expect(smtp.mails).toHaveLength(1);
    const [mail] = smtp.mails;
    expect(mail.from).toBe('laas@example.com');
    expect(mail.to).toEqual(['ops@example.com', 'oncall@example.com']);
    expect(header(mail.raw, 'From')).toBe('laas <laas@example.com>');
    expect(header(mail.raw, 'To')).toBe('ops@example.com, oncall@example.com');
    expect(header(mail.raw, 'Subject')).toBe('[FIRING:2] demo-down (web-1, web-2)');
    expect(mail.raw).toMatch(/^Content-Type: multipart\/alternative;/m);
    const p = parts(mail.raw);
    expect(Object.keys(p).sort()).toEqual(['text/html', 'text/plain']);
    expect(p['text/plain']).toContain('- [critical] web-1: demo is down on web-1');
    expect(p['text/plain']).toContain('- [critical] web-2: disk <full> & slow on web-2');
    expect(p['text/plain']).toContain('http://laas.test/api/v1/alerts/a-web-2');
    expect(p['text/html']).toContain('demo is down on web-1');
    expect(p['text/html']).toContain('disk &lt;full&gt; &amp; slow on web-2');
    expect(p['text/html']).not.toContain('<full>');
    expect(p['text/html']).toContain('<a href="http://laas.test/api/v1/alerts/a-web-1">');
  });

  it('renders the subject and text templates', async () => {
    await notifierFrom(config({ subject: '{{status}}: {{alertname}} x{{count}}', text: 'Hosts: {{host}}\n{{alerts}}' })).send(firing(), never);
    const [mail] = smtp.mails;
    expect(header(mail.raw, 'Subject')).toBe('firing: demo-down x2');
    const p = parts(mail.raw);
    expect(p['text/plain']).toMatch(/^Hosts: web-1, web-2\r?\n- \[critical\] web-1: demo is down on web-1/);
    expect(p['text/html']).toContain('Hosts: web-1, web-2');
  });

  it('rejects when the server refuses the login', async () => {
    process.env.LAAS_TEST_SMTP_PASS = 'wrong';
    await expect(notifierFrom(config()).send(firing(), never)).rejects.toThrow(/^email via 127\.0\.0\.1:\d+ failed: .*Invalid username or password/);
    expect(smtp.mails).toHaveLength(0);
  });

  it('rejects when no SMTP server listens', async () => {
    const port = await freePort();
    await expect(notifierFrom(config({ smtp: { host: '127.0.0.1', port, ignoreTLS: true } })).send(firing(), never)).rejects.toThrow(
      new RegExp(`^email via 127\\.0\\.0\\.1:${port} failed: .*ECONNREFUSED`),
    );
  });

  it('stops waiting when the send is aborted', async () => {
    const ac = new AbortController();
    const p = notifierFrom(config()).send(firing(), ac.signal);
    ac.abort(new Error('shutting down'));
    await expect(p).rejects.toThrow(/shutting down/);
  });
});
