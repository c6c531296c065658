import { createHmac } from 'node:crypto';
import { z } from 'zod';
import type { Notification, NotifierKind } from './notifier.js';
import { checkRobotAnswer, postJson, render, resolvedSecretSchema, templateSchema, timeoutSchema, hasQueryParam, truncateBytes } from './template.js';

const configSchema = z.strictObject({
  type: z.literal('dingtalk'),
  /** The custom robot's webhook, e.g. "https://oapi.dingtalk.com/robot/send?access_token=…". */
  url: z
    .url({ protocol: /^https?$/, error: 'expected the robot webhook URL, e.g. "https://oapi.dingtalk.com/robot/send?access_token=…"' })
    .refine(
      (u) => hasQueryParam(u, 'access_token'),
      'expected the robot webhook URL with its access_token, e.g. "https://oapi.dingtalk.com/robot/send?access_token=…"',
    ),
  /** The robot's signing secret ("SEC…"), when its security setting is "sign"; inline, {env} or {file}. */
  secret: resolvedSecretSchema.optional(),
  title: templateSchema.optional(),
  text: templateSchema.optional(),
  timeout: timeoutSchema,
});

/** DingTalk's robot signature: base64(HMAC-SHA256(key = secret, message = timestamp + "\n" + secret)). */
export function dingtalkSign(timestamp: number, secret: string): string {
  return createHmac('sha256', secret).update(`${timestamp}\n${secret}`).digest('base64');
}

/** The URL to post to: with `timestamp` (ms) and `sign` appended (URL-encoded) when a secret is set. */
export function dingtalkUrl(url: string, secret: string | undefined, now = Date.now()): string {
  if (!secret) return url;
  const u = new URL(url);
  u.searchParams.set('timestamp', String(now));
  u.searchParams.set('sign', dingtalkSign(now, secret));
  return u.toString();
}

/** Markdown messages are cut well below the robot's size limit. */
const MAX_BYTES = 18_000;

export function dingtalkPayload(n: Notification, config: { title?: string; text?: string }): Record<string, unknown> {
  const { title, text } = render(n, config, 'markdown');
  return { msgtype: 'markdown', markdown: { title, text: truncateBytes(`### ${title}\n\n${text}`, MAX_BYTES) } };
}

export const dingtalk: NotifierKind<typeof configSchema> = {
  type: 'dingtalk',
  configSchema,
  create(receiver, config) {
    return {
      receiver,
      async send(n, signal) {
        const url = dingtalkUrl(config.url, config.secret);
        const answer = await postJson('dingtalk robot', url, dingtalkPayload(n, config), config.timeout, signal);
        checkRobotAnswer('dingtalk robot', url, answer, ['errcode'], ['errmsg']);
      },
    };
  },
};
