import { createHmac } from 'node:crypto';
import { z } from 'zod';
import type { Notification, NotifierKind } from './notifier.js';
import { checkRobotAnswer, postJson, render, resolvedSecretSchema, templateSchema, timeoutSchema, truncateBytes } from './template.js';

const configSchema = z.strictObject({
  type: z.literal('feishu'),
  /** The custom bot's webhook, e.g. "https://open.feishu.cn/open-apis/bot/v2/hook/…" (Lark: open.larksuite.com). */
  url: z.url({ protocol: /^https?$/, error: 'expected the bot webhook URL, e.g. "https://open.feishu.cn/open-apis/bot/v2/hook/…"' }),
  /** The bot's signature-verification secret, when set; inline, {env} or {file}. */
  secret: resolvedSecretSchema.optional(),
  title: templateSchema.optional(),
  text: templateSchema.optional(),
  timeout: timeoutSchema,
});

/** Feishu's bot signature: base64(HMAC-SHA256(key = timestamp + "\n" + secret, message = "")). */
export function feishuSign(timestamp: string, secret: string): string {
  return createHmac('sha256', `${timestamp}\n${secret}`).update('').digest('base64');
}

const MAX_BYTES = 18_000;

/** A text message; with a secret, `timestamp` (seconds, a string) and `sign` ride in the body. */
export function feishuPayload(n: Notification, config: { title?: string; text?: string; secret?: string }, nowMs = Date.now()): Record<string, unknown> {
  const { title, text } = render(n, config, 'plain');
  const body: Record<string, unknown> = { msg_type: 'text', content: { text: truncateBytes(`${title}\n\n${text}`, MAX_BYTES) } };
  if (config.secret) {
    const timestamp = String(Math.floor(nowMs / 1000));
    return { timestamp, sign: feishuSign(timestamp, config.secret), ...body };
  }
  return body;
}

export const feishu: NotifierKind<typeof configSchema> = {
  type: 'feishu',
  configSchema,
  create(receiver, config) {
    return {
      receiver,
      async send(n, signal) {
        const answer = await postJson('feishu bot', config.url, feishuPayload(n, config), config.timeout, signal);
        // Errors come as {code, msg}; older answers carry {StatusCode, StatusMessage}.
        checkRobotAnswer('feishu bot', config.url, answer, ['code', 'StatusCode'], ['msg', 'StatusMessage']);
      },
    };
  },
};
