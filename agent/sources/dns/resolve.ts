import { Resolver } from 'node:dns/promises';
import type { Sample } from '../../../protocol/index.js';
import type { DnsConfig } from './config.js';

export type DnsFacts = NonNullable<Sample['dns']>[string];

const WHY: Record<string, string> = {
  ENOTFOUND: 'no such name',
  ENODATA: 'no records of that type',
  ETIMEOUT: 'no answer',
  ECONNREFUSED: 'the server refused',
};

/**
 * Resolves with a c-ares resolver of its own (DNS servers only, never /etc/hosts: the point is
 * what DNS answers), one try within the timeout.
 */
export async function resolveName(c: DnsConfig, signal: AbortSignal): Promise<DnsFacts> {
  const resolver = new Resolver({ timeout: c.timeout, tries: 1 });
  if (c.server !== undefined) resolver.setServers([c.server]);
  const onAbort = () => resolver.cancel();
  signal.addEventListener('abort', onAbort, { once: true });
  const started = performance.now();
  const ms = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    const records = (await resolver.resolve(c.query, c.type)) as unknown[];
    const answers = records.map(format).slice(0, 50);
    const missing = (c.expect ?? []).filter((e) => !answers.some((a) => same(a, e)));
    return {
      ok: answers.length > 0 && missing.length === 0,
      answers,
      ms: ms(),
      ...(missing.length > 0 ? { error: `expected ${missing.join(', ')} among the answers`.slice(0, 500) } : {}),
    };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    return { ok: false, answers: [], ms: ms(), error: `${code}${WHY[code] ? `: ${WHY[code]}` : ''} (${c.type} ${c.query})`.slice(0, 500) };
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function same(a: string, b: string): boolean {
  const norm = (s: string) => s.toLowerCase().replace(/\.$/, '');
  return norm(a) === norm(b);
}

/** One record as text: an address or name as is, MX "10 mx.example.com", SRV "10 5 443 host", TXT its strings joined. */
function format(r: unknown): string {
  let s: string;
  if (typeof r === 'string') s = r;
  else if (Array.isArray(r)) s = r.join('');
  else {
    const x = r as { priority?: number; weight?: number; port?: number; name?: string; exchange?: string };
    if (x.exchange !== undefined) s = `${x.priority} ${x.exchange}`;
    else if (x.port !== undefined) s = `${x.priority} ${x.weight} ${x.port} ${x.name}`;
    else s = JSON.stringify(r);
  }
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').slice(0, 300);
}
