import { z } from 'zod';
import type { Notification, NotifierKind } from './notifier.js';
import { checkRobotAnswer, postJson, render, templateSchema, timeoutSchema, hasQueryParam, truncateBytes } from './template.js';

const configSchema = z.strictObject({
  type: z.literal('wecom'),
  /** The group robot's webhook, e.g. "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…". */
  url: z
    .url({ protocol: /^https?$/, error: 'expected the robot webhook URL, e.g. "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…"' })
    .refine((u) => hasQueryParam(u, 'key'), 'expected the robot webhook URL with its key, e.g. "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…"'),
  title: templateSchema.optional(),
  text: templateSchema.optional(),
  timeout: timeoutSchema,
});

/** WeCom refuses markdown content over 4096 bytes. */
const MAX_BYTES = 4096;

export function wecomPayload(n: Notification, config: { title?: string; text?: string }): Record<string, unknown> {
  const { title, text } = render(n, config, 'markdown');
  const color = n.status === 'resolved' ? 'info' : 'warning';
  return { msgtype: 'markdown', markdown: { content: truncateBytes(`### <font color="${color}">${title}</font>\n${text}`, MAX_BYTES) } };
}

export const wecom: NotifierKind<typeof configSchema> = {
  type: 'wecom',
  configSchema,
  create(receiver, config) {
    return {
      receiver,
      async send(n, signal) {
        const answer = await postJson('wecom robot', config.url, wecomPayload(n, config), config.timeout, signal);
        checkRobotAnswer('wecom robot', config.url, answer, ['errcode'], ['errmsg']);
      },
    };
  },
};
