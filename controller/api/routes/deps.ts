import type { Logger } from '../../../protocol/index.js';
import type { Clock } from '../../clock.js';
import type { ConfigReloadOutcome } from '../../config-reload.js';
import type { Core } from '../../core.js';
import type { Metrics } from '../../metrics.js';
import type { NotificationLog } from '../../notify/log.js';
import type { ReloadOutcome } from '../../rules/reloader.js';
import type { AgentLinks } from '../../security/agent-links.js';
import type { AgentAuth } from '../../security/agents.js';
import type { AuditLog } from '../../security/audit.js';
import type { AuthFailures } from '../../security/rate-limit.js';
import type { Store } from '../../store/store.js';
import type { Api, Role } from '../server.js';

/** What the API's handlers reach: the controller's parts, built in controller/main.ts. */
export interface RouteDeps {
  core: Core;
  store: Store;
  link: { readonly size: number; isConnected(host: string): boolean; disconnect(host: string, reason: string): boolean };
  links: AgentLinks;
  agentAuth: AgentAuth;
  audit: AuditLog;
  authFailures: AuthFailures;
  notificationLog: NotificationLog;
  metrics: Metrics;
  signingKeyPem: string;
  reloadRules: () => Promise<ReloadOutcome>;
  reloadConfig: () => ConfigReloadOutcome;
  /** Who may read /healthz and /metrics: anyone, or token holders ("metrics": {"requireToken": true}). */
  scrape: Role | 'public';
  clock: Clock;
  log: Logger;
}

/** One area of the API: adds its routes. A new area is one file and one line in routes/index.ts. */
export type Routes = (api: Api, deps: RouteDeps) => void;

/** The optional free-text field of an operator's action (at most 1,000 characters). */
export function comment(body: unknown, field = 'comment'): string {
  const v = (body as Record<string, unknown> | undefined)?.[field];
  return typeof v === 'string' ? v.slice(0, 1000) : '';
}

/** ?limit=N, capped at 10,000; absent or not a positive integer: the list's own default. */
export function limitOf(q: URLSearchParams): number | undefined {
  const n = Number(q.get('limit'));
  return Number.isInteger(n) && n > 0 ? Math.min(n, 10_000) : undefined;
}

/** The query parameters among `keys` that are set and not empty. */
export function filterOf(q: URLSearchParams, keys: string[]): Record<string, string> {
  return Object.fromEntries(keys.filter((k) => q.get(k)).map((k) => [k, q.get(k)!]));
}
