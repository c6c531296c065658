import { LAAS_VERSION } from '../../../protocol/index.js';
import { notFound } from '../errors.js';
import type { Routes } from './deps.js';

/** Health, metrics and the host inventory (hosts of every controller of the fleet). */
export const statusRoutes: Routes = (api, { core, link, metrics, scrape }) => {
  api
    .route('GET', '/healthz', scrape, async () => ({
      body: { status: 'ok', version: LAAS_VERSION, agents: link.size, rules: core.ruleSet.length, paused: core.heal.paused() !== null },
    }))
    .route('GET', '/metrics', scrape, async () => ({ body: metrics.stream(), contentType: metrics.registry.contentType }))
    .route('GET', '/api/v1/hosts', 'viewer', async () => ({ body: await core.fleet.hosts() }))
    .route('GET', '/api/v1/hosts/{id}', 'viewer', async (r) => ({ body: (await core.fleet.host(r.params.id)) ?? notFound('host', r.params.id) }));
};
