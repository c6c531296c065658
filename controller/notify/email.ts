import nodemailer from 'nodemailer';
import { z } from 'zod';
import type { Notification, NotifierKind } from './notifier.js';
import { render, resolvedSecretSchema, templateSchema, timeoutSchema } from './template.js';

/** "ops@example.com" or "Ops <ops@example.com>". */
const ADDRESS = /^(?:[^<>@\s][^<>@]*<[^<>@\s]+@[^<>@\s]+>|[^<>@\s]+@[^<>@\s]+)$/;
const address = z
  .string({ error: 'expected an email address like "ops@example.com"' })
  .regex(ADDRESS, 'expected an email address like "ops@example.com" or "Ops <ops@example.com>"');

const configSchema = z.strictObject({
  type: z.literal('email'),
  smtp: z
    .strictObject({
      host: z.string({ error: 'expected the SMTP server host name, e.g. "smtp.example.com"' }).min(1, 'must not be empty'),
      port: z.number({ error: 'expected a port number, e.g. 587' }).int().min(1).max(65_535),
      /** TLS from the first byte (port 465); otherwise STARTTLS is used when the server offers it. */
      secure: z.boolean({ error: 'expected true or false' }).default(false),
      /** Refuse to send unless the server upgrades with STARTTLS. */
      requireTLS: z.boolean({ error: 'expected true or false' }).default(false),
      /** Never upgrade with STARTTLS even when offered (local relays with no certificate). */
      ignoreTLS: z.boolean({ error: 'expected true or false' }).default(false),
      auth: z
        .strictObject({
          user: z.string().min(1, 'must not be empty'),
          /** Inline, {env} or {file}. */
          pass: resolvedSecretSchema,
        })
        .optional(),
    })
    .refine((s) => !(s.requireTLS && s.ignoreTLS), { error: 'requireTLS and ignoreTLS contradict each other; set one', path: ['ignoreTLS'] }),
  from: address,
  to: z.array(address, { error: 'expected a list of email addresses' }).min(1, 'expected at least one recipient'),
  subject: templateSchema.optional(),
  text: templateSchema.optional(),
  /** Bounds connecting, the greeting and each SMTP reply. */
  timeout: timeoutSchema,
});

export type EmailConfig = z.output<typeof configSchema>;

export function emailMessage(
  n: Notification,
  config: Pick<EmailConfig, 'from' | 'to' | 'subject' | 'text'>,
): { from: string; to: string[]; subject: string; text: string; html: string } {
  const { title, text, html } = render(n, { title: config.subject, text: config.text }, 'plain');
  return { from: config.from, to: [...config.to], subject: title, text, html };
}

export const email: NotifierKind<typeof configSchema> = {
  type: 'email',
  configSchema,
  create(receiver, config) {
    const { smtp } = config;
    const transport = nodemailer.createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.secure,
      requireTLS: smtp.requireTLS,
      ignoreTLS: smtp.ignoreTLS,
      ...(smtp.auth ? { auth: { user: smtp.auth.user, pass: smtp.auth.pass } } : {}),
      connectionTimeout: config.timeout,
      greetingTimeout: config.timeout,
      socketTimeout: config.timeout,
    });
    return {
      receiver,
      async send(n, signal) {
        signal.throwIfAborted();
        let onAbort: (() => void) | undefined;
        const aborted = new Promise<never>((_, reject) => {
          onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('email send aborted'));
          signal.addEventListener('abort', onAbort, { once: true });
        });
        try {
          await Promise.race([transport.sendMail(emailMessage(n, config)), aborted]);
        } catch (e) {
          throw new Error(`email via ${smtp.host}:${smtp.port} failed: ${(e as Error).message}`, { cause: e });
        } finally {
          if (onAbort) signal.removeEventListener('abort', onAbort);
        }
      },
      close() {
        transport.close();
      },
    };
  },
};
