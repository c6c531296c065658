import { printable, printableDeep, printableLines } from './terminal-safe.js';

/** Talks to a controller's HTTP API: tables and stories for people (control characters escaped), --json for scripts. */
export interface ClientOptions {
  url: string;
  json?: boolean;
}

/** One API call; on failure prints what went wrong and what to do, sets exit code 1, returns undefined. */
export async function call(method: string, path: string, o: ClientOptions, body?: unknown): Promise<unknown> {
  const url = new URL(path, o.url);
  const token = process.env.LAAS_TOKEN;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      // JSON on every state-changing call, body or not: a controller with no tokens refuses one
      // that is not (what a web page could send it), see API_CROSS_SITE.
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined || method !== 'GET' ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(10_000),
    });
  } catch (e) {
    process.stderr.write(`laas: cannot reach the controller at ${o.url} (${(e as Error).message}); is it running? Use --url or LAAS_URL\n`);
    process.exitCode = 1;
    return undefined;
  }
  const out: unknown = await res.json().catch(() => undefined);
  if (!res.ok) {
    const err = (out as { error?: { code: string; message: string } } | undefined)?.error;
    const hint = res.status === 401 ? ' (set LAAS_TOKEN to an API token)' : '';
    process.stderr.write(`laas: ${res.status} ${printable(err ? `${err.code}: ${err.message}` : res.statusText)}${hint}\n`);
    process.exitCode = 1;
    return undefined;
  }
  return out;
}

const COLUMNS = {
  hosts: ['id', 'up', 'connected', 'labels', 'lastSeen'],
  alerts: ['id', 'rule', 'host', 'severity', 'state', 'startsAt', 'summary'],
  heals: ['id', 'rule', 'host', 'action', 'state', 'createdAt', 'reason'],
  breakers: ['rule', 'host', 'state', 'openedAt', 'recentFailures', 'closesAt'],
} as const;

export async function printList(kind: keyof typeof COLUMNS, path: string, id: string | undefined, o: ClientOptions & { state?: string }): Promise<void> {
  const query = o.state ? `?state=${encodeURIComponent(o.state)}` : '';
  const body = await call('GET', id ? `${path}/${encodeURIComponent(id)}${query}` : `${path}${query}`, o);
  if (body === undefined) return;
  if (o.json) return print(JSON.stringify(body, null, 2));
  if (id) return print(kind === 'heals' ? story(printableDeep(body) as Record<string, unknown>) : printableLines(JSON.stringify(body, null, 2)));
  const rows = printableDeep(body) as Record<string, unknown>[];
  print(
    table(
      COLUMNS[kind],
      rows.map((r) => COLUMNS[kind].map((c) => cell(r[c]))),
    ).trimEnd(),
  );
}

/** A work order told as a story: what, where, each step and what came of it, every event. */
export function story(h: Record<string, unknown>): string {
  const steps = (h.steps as Record<string, unknown>[] | undefined) ?? [];
  const history = (h.history as { at: string; state: string; note: string }[] | undefined) ?? [];
  const approval = h.approval as Record<string, unknown> | null;
  return [
    `work order ${field(h.id)}: ${field(h.state)}${h.mode === 'shadow' ? ' (shadow)' : ''}`,
    `  rule ${field(h.rule)} on host ${field(h.host)}, ${h.trigger === 'schedule' ? 'on schedule' : `alert ${field(h.alertId ?? '-')}`}`,
    `  reason: ${field(h.reason)}`,
    ...(approval
      ? [`  approval: ${field(approval.decision ?? 'waiting')}${approval.by ? ` by ${field(approval.by)}` : ''} (expires ${field(approval.expiresAt)})`]
      : []),
    '  steps:',
    ...steps.map((s, i) => {
      const r = s.result as Record<string, unknown> | null;
      return `    ${i + 1}. ${field(s.action)} ${JSON.stringify(s.params)} — ${field(s.state)}${r ? ` (exit ${field(r.exitCode ?? r.signal ?? '-')}, ${Math.round(Number(r.durationMs))} ms)` : ''}`;
    }),
    '  history:',
    ...history.map((e) => `    ${e.at}  ${e.state.padEnd(17)} ${e.note}`),
  ].join('\n');
}

function print(text: string): void {
  process.stdout.write(text + '\n');
}

/** A field of an API record as text: a primitive as String() shows it, anything else as JSON, never "[object Object]". */
function field(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined) return String(v);
  return JSON.stringify(v);
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'object')
    return Object.entries(v)
      .map(([k, x]) => `${k}=${field(x)}`)
      .join(',');
  const s = field(v);
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}

function table(head: readonly string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd() + '\n';
  return line(head.map((h) => h.toUpperCase())) + rows.map(line).join('') + (rows.length ? '' : '(none)\n');
}
