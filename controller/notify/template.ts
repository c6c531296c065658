import { z } from 'zod';
import { errorMessage, resolveSecret } from '../../protocol/index.js';
import { zDuration, zSecret } from '../../protocol/zod.js';
import type { AlertNotice, Notification } from './notifier.js';

/**
 * Shared by the chat and mail notifiers: rendering a notification to a title and a body,
 * user templates with a fixed set of {{placeholders}} (plain substitution, no code), and
 * the few helpers every robot needs (a secret field, a timed JSON POST).
 */

export const PLACEHOLDERS = ['status', 'receiver', 'count', 'alertname', 'host', 'severity', 'summary', 'alerts'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const KNOWN: ReadonlySet<string> = new Set(PLACEHOLDERS);

/** The problems of a template, as messages: unknown placeholders, a "{{" never closed. */
export function templateProblems(template: string): string[] {
  const problems: string[] = [];
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (!KNOWN.has(m[1])) problems.push(`unknown placeholder {{${m[1]}}}; known: ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ')}`);
  }
  if (template.replace(PLACEHOLDER, '').includes('{{')) problems.push('"{{" without a closing "}}"; placeholders look like {{status}}');
  return problems;
}

/** A user template: a string whose placeholders are all known (checked at start-up). */
export const templateSchema = z
  .string({ error: 'expected a template string like "[{{status}}] {{alertname}}"' })
  .min(1, 'must not be empty')
  .superRefine((t, ctx) => {
    for (const message of templateProblems(t)) ctx.addIssue({ code: 'custom', message });
  });

/** How {{alerts}} and the default body are written for one kind of receiver. */
export type BodyFormat = 'plain' | 'markdown' | 'slack';

export interface Rendered {
  title: string;
  /** The body, in the receiver's format (plain text, markdown or Slack mrkdwn). */
  text: string;
  /** The body as HTML, alert text escaped (for mail). */
  html: string;
}

export interface Templates {
  title?: string;
  text?: string;
}

export function alertLink(n: Pick<Notification, 'externalUrl'>, a: Pick<AlertNotice, 'id'>): string {
  return `${n.externalUrl.replace(/\/+$/, '')}/api/v1/alerts/${encodeURIComponent(a.id)}`;
}

function distinct(values: readonly string[]): string[] {
  return [...new Set(values.filter((v) => v !== ''))];
}

function alertName(n: Notification): string {
  return n.groupLabels.alertname ?? distinct(n.alerts.map((a) => a.labels.alertname ?? a.rule)).join(', ');
}

function hostList(hosts: string[], max = 3): string {
  return hosts.length > max ? `${hosts.slice(0, max).join(', ')} and ${hosts.length - max} more` : hosts.join(', ');
}

/** `[FIRING:2] demo-down (web-1, web-2)` or `[RESOLVED] demo-down on web-1`. */
export function defaultTitle(n: Notification): string {
  const status = n.status === 'firing' ? `FIRING:${n.alerts.filter((a) => a.status === 'firing').length || n.alerts.length}` : 'RESOLVED';
  const hosts = distinct(n.alerts.map((a) => a.host));
  const where = hosts.length === 0 ? '' : hosts.length === 1 ? ` on ${hosts[0]}` : ` (${hostList(hosts)})`;
  return `[${status}] ${alertName(n)}${where}`;
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Slack's mrkdwn needs only &, < and > escaped. */
export function escapeSlack(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function when(a: AlertNotice): string {
  return a.endsAt ? `started ${a.startsAt}, ended ${a.endsAt}` : `started ${a.startsAt}`;
}

function summary(a: AlertNotice): string {
  return a.annotations.summary ?? a.labels.alertname ?? a.rule;
}

/** The per-alert list: severity, host, summary, times and a link to the alert. */
export function alertList(n: Notification, format: BodyFormat): string {
  return n.alerts
    .map((a) => {
      const link = alertLink(n, a);
      if (format === 'markdown') return `- **${a.severity}** ${a.host}: ${summary(a)}\n  ${when(a)}\n  [${link}](${link})`;
      if (format === 'slack')
        return `• *${escapeSlack(a.severity)}* ${escapeSlack(a.host)}: ${escapeSlack(summary(a))}\n    ${escapeSlack(when(a))}\n    <${link}|${escapeSlack(link)}>`;
      return `- [${a.severity}] ${a.host}: ${summary(a)}\n  ${when(a)}\n  ${link}`;
    })
    .join('\n');
}

function alertListHtml(n: Notification): string {
  const items = n.alerts.map((a) => {
    const link = escapeHtml(alertLink(n, a));
    return `<li><strong>${escapeHtml(a.severity)}</strong> ${escapeHtml(a.host)}: ${escapeHtml(summary(a))}<br>${escapeHtml(when(a))}<br><a href="${link}">${link}</a></li>`;
  });
  return `<ul>\n${items.join('\n')}\n</ul>`;
}

/** The values placeholders stand for; group-wide ones join the distinct values of its alerts. */
export function placeholderValues(n: Notification, format: BodyFormat): Record<Placeholder, string> {
  const esc = format === 'slack' ? escapeSlack : (s: string) => s;
  return {
    status: n.status,
    receiver: esc(n.receiver),
    count: String(n.alerts.length),
    alertname: esc(alertName(n)),
    host: esc(hostList(distinct(n.alerts.map((a) => a.host)))),
    severity: esc(distinct(n.alerts.map((a) => a.severity)).join(', ')),
    summary: esc(distinct(n.alerts.map(summary)).join('; ')),
    alerts: alertList(n, format),
  };
}

/** Substitutes placeholders; the template was checked at start-up, an unknown one renders empty. */
export function fill(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(PLACEHOLDER, (_, name: string) => values[name] ?? '');
}

export function render(n: Notification, templates: Templates, format: BodyFormat): Rendered {
  const values = placeholderValues(n, format);
  const title = templates.title ? fill(templates.title, placeholderValues(n, 'plain')) : defaultTitle(n);
  const text = templates.text ? fill(templates.text, values) : values.alerts;
  const html = templates.text
    ? `<div style="white-space: pre-wrap">${escapeHtml(fill(templates.text, placeholderValues(n, 'plain')))}</div>`
    : `<p><strong>${escapeHtml(title)}</strong></p>\n${alertListHtml(n)}`;
  return { title, text, html };
}

/** Cuts text to at most `max` UTF-8 bytes (robots refuse longer messages), marking the cut. */
export function truncateBytes(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  const mark = '\n…';
  let cut = Buffer.from(text)
    .subarray(0, max - Buffer.byteLength(mark))
    .toString();
  cut = cut.replace(/\uFFFD+$/, '');
  return cut + mark;
}

/** A secret ({env}/{file}/inline) resolved while the config is checked, so a missing one fails start-up with its pointer. */
export const resolvedSecretSchema = zSecret.transform((ref, ctx) => {
  try {
    return resolveSecret(ref, 'secret');
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: errorMessage(e).replace(/^secret: /, '') });
    return z.NEVER;
  }
});

export const timeoutSchema = zDuration.default(10_000);

/** Where a request went, without the path or query (robot URLs carry their token there). */
export function redact(url: string): string {
  return new URL(url).host;
}

/**
 * POSTs JSON and returns the parsed answer; a non-2xx answer throws with its status and a
 * short piece of its body. `what` names the receiver kind in messages.
 */
export async function postJson(
  what: string,
  url: string,
  body: unknown,
  timeoutMs: number,
  signal: AbortSignal,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: unknown; text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
  });
  const text = await res.text().catch(() => '');
  if (!res.ok) throw new Error(`${what} at ${redact(url)} answered HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/**
 * Checks a chat robot's `{errcode, errmsg}` / `{code, msg}` answer: robots answer HTTP 200
 * even when they refuse a message, so a missing or non-zero code is a failure.
 */
export function checkRobotAnswer(
  what: string,
  url: string,
  answer: { json: unknown; text: string },
  codeKeys: readonly string[],
  msgKeys: readonly string[],
): void {
  const json = answer.json;
  if (!json || typeof json !== 'object')
    throw new Error(
      `${what} at ${redact(url)} answered HTTP 200 without its JSON reply${answer.text ? `: ${answer.text.slice(0, 200)}` : ''} — is the URL the robot's webhook?`,
    );
  const o = json as Record<string, unknown>;
  const codeKey = codeKeys.find((k) => k in o);
  const code = codeKey === undefined ? undefined : o[codeKey];
  if (code === 0 || code === '0') return;
  const msg = msgKeys.map((k) => o[k]).find((v) => typeof v === 'string' && v !== '');
  if (codeKey === undefined) throw new Error(`${what} at ${redact(url)} answered without ${codeKeys.join('/')}: ${answer.text.slice(0, 200)}`);
  throw new Error(`${what} at ${redact(url)} refused the message: ${codeKey} ${String(code)}${msg ? `: ${msg as string}` : ''}`);
}

/** Whether a URL carries a query parameter; true for a URL that does not parse, whose own check reports it. */
export function hasQueryParam(url: string, name: string): boolean {
  return !URL.canParse(url) || new URL(url).searchParams.has(name);
}
