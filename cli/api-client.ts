/** Talks to a controller's HTTP API for the read commands; tables for people, --json for scripts. */
export async function printList(kind: 'hosts' | 'alerts' | 'heals', path: string, id: string | undefined, o: { url: string; state?: string; json?: boolean }): Promise<void> {
  const url = new URL(id ? `${path}/${encodeURIComponent(id)}` : path, o.url);
  if (o.state) url.searchParams.set('state', o.state);
  const token = process.env.LAAS_TOKEN;
  let res: Response;
  try {
    res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(10_000) });
  } catch (e) {
    process.stderr.write(`laas: cannot reach the controller at ${o.url} (${(e as Error).message}); is it running? Use --url or LAAS_URL\n`);
    process.exitCode = 1;
    return;
  }
  const body = await res.json().catch(() => undefined) as unknown;
  if (!res.ok) {
    const err = (body as { error?: { code: string; message: string } } | undefined)?.error;
    process.stderr.write(`laas: ${res.status} ${err ? `${err.code}: ${err.message}` : res.statusText}\n`);
    process.exitCode = 1;
    return;
  }
  if (o.json || id) {
    process.stdout.write(JSON.stringify(body, null, 2) + '\n');
    return;
  }
  const rows = body as Record<string, unknown>[];
  const columns = {
    hosts: ['id', 'up', 'connected', 'labels', 'lastSeen'],
    alerts: ['id', 'rule', 'host', 'severity', 'state', 'startsAt', 'summary'],
    heals: ['id', 'rule', 'host', 'action', 'state', 'createdAt', 'reason'],
  }[kind];
  process.stdout.write(table(columns, rows.map((r) => columns.map((c) => cell(r[c])))));
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'object') return Object.entries(v).map(([k, x]) => `${k}=${x}`).join(',');
  const s = String(v);
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}

function table(head: readonly string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd() + '\n';
  return line(head.map((h) => h.toUpperCase())) + rows.map(line).join('') + (rows.length ? '' : '(none)\n');
}
