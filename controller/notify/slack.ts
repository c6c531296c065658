import { z } from 'zod';
import type { Notification, NotifierKind } from './notifier.js';
import { escapeSlack, postJson, render, templateSchema, timeoutSchema } from './template.js';

const configSchema = z.strictObject({
  type: z.literal('slack'),
  /** The incoming-webhook URL Slack gives, e.g. "https://hooks.slack.com/services/T…/B…/…". */
  url: z.url({ protocol: /^https?$/, error: 'expected the incoming-webhook URL, e.g. "https://hooks.slack.com/services/T000/B000/XXXX"' }),
  /** Overrides the webhook's channel, where the workspace allows it. */
  channel: z.string().min(1, 'must not be empty').optional(),
  username: z.string().min(1, 'must not be empty').optional(),
  title: templateSchema.optional(),
  text: templateSchema.optional(),
  timeout: timeoutSchema,
});

/** good for resolved, danger when a critical alert fires, warning otherwise. */
export function slackColor(n: Notification): 'good' | 'warning' | 'danger' {
  if (n.status === 'resolved') return 'good';
  return n.alerts.some((a) => a.status === 'firing' && a.severity === 'critical') ? 'danger' : 'warning';
}

/** An incoming-webhook message: `text` for notifications and old clients, one coloured attachment. */
export function slackPayload(n: Notification, config: Pick<z.output<typeof configSchema>, 'channel' | 'username' | 'title' | 'text'>): Record<string, unknown> {
  const { title, text } = render(n, config, 'slack');
  const safeTitle = escapeSlack(title);
  return {
    ...(config.channel ? { channel: config.channel } : {}),
    ...(config.username ? { username: config.username } : {}),
    text: safeTitle,
    attachments: [
      {
        color: slackColor(n),
        fallback: safeTitle,
        title: safeTitle,
        text,
        mrkdwn_in: ['text'],
      },
    ],
  };
}

export const slack: NotifierKind<typeof configSchema> = {
  type: 'slack',
  configSchema,
  create(receiver, config) {
    return {
      receiver,
      async send(n, signal) {
        // Slack answers "ok" as text; failures come as non-2xx with a short reason (e.g. "no_service").
        await postJson('slack webhook', config.url, slackPayload(n, config), config.timeout, signal);
      },
    };
  },
};
