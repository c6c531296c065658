import { z } from 'zod';
import { validate } from '../../../protocol/index.js';
import { zodValidator } from '../../../protocol/zod.js';
import { ApiError, notFound } from '../errors.js';
import { comment, filterOf, limitOf, type Routes } from './deps.js';

const breakerInput = z.strictObject({
  rule: z.string().min(1).max(300).describe('<namespace>/<name>'),
  host: z.string().min(1).max(300),
});

/** Work orders and their decisions (where the host is owned), the fleet-wide pause, circuit breakers. */
export const healRoutes: Routes = (api, { core, store }) => {
  const hostOf = async (id: string) => (await store.getHeal(id))?.host;
  const decide =
    (verdict: 'approve' | 'reject'): Parameters<typeof api.route>[3] =>
    async (r) => {
      const { id } = r.params;
      const by = r.caller;
      const text = comment(r.body);
      const order = await core.fleet.onOwner(await hostOf(id), { kind: verdict, id, by, comment: text }, () => core.heal[verdict](id, by, text));
      return { body: order };
    };
  api
    .route('GET', '/api/v1/heals', 'viewer', async (r) => ({
      body: await store.listHeals({ ...filterOf(r.query, ['state', 'host', 'rule']), limit: limitOf(r.query) }),
    }))
    .route('GET', '/api/v1/heals/{id}', 'viewer', async (r) => ({ body: (await store.getHeal(r.params.id)) ?? notFound('work order', r.params.id) }))
    .route('POST', '/api/v1/heals/{id}/approve', 'operator', decide('approve'))
    .route('POST', '/api/v1/heals/{id}/reject', 'operator', decide('reject'))
    .route('GET', '/api/v1/pause', 'viewer', async () => ({ body: { paused: core.heal.paused() } }))
    .route('POST', '/api/v1/pause', 'operator', async (r) => ({ body: { paused: await core.heal.pause(r.caller, comment(r.body, 'reason')) } }))
    .route('DELETE', '/api/v1/pause', 'operator', async (r) => {
      await core.heal.resume(r.caller);
      return { body: { paused: null } };
    })
    .route('GET', '/api/v1/breakers', 'viewer', async () => ({ body: core.heal.breakerList() }))
    .route('POST', '/api/v1/breakers/reset', 'operator', async (r) => {
      const { rule, host } = validate(r.body ?? {}, 'request body', zodValidator(breakerInput), 'API_BAD_REQUEST');
      const reset = await core.fleet.onOwner(host, { kind: 'breaker-reset', rule, host, by: r.caller }, () => core.heal.resetBreaker(rule, host, r.caller));
      if (!reset) throw new ApiError('API_NOT_FOUND', `no open circuit breaker for ${rule} on ${host}`);
      return { body: { reset: true, rule, host } };
    });
};
