import { z } from 'zod';
import { validate } from '../../../protocol/index.js';
import { zDuration, zodValidator } from '../../../protocol/zod.js';
import { matcherSchema } from '../../alerts/silences.js';
import { ApiError, notFound } from '../errors.js';
import { comment, filterOf, limitOf, type Routes } from './deps.js';

const silenceInput = z.strictObject({
  matchers: z.array(matcherSchema).min(1, 'a silence needs at least one matcher, e.g. "host=web-1"'),
  startsAt: z.iso.datetime({ offset: true }).optional(),
  endsAt: z.iso.datetime({ offset: true }).optional(),
  duration: zDuration.optional(),
  comment: z.string().max(1000).default(''),
  pauseHeals: z.boolean().default(false),
});

/** Alerts, their acknowledgement (where the host is owned), silences and the notification log. */
export const alertRoutes: Routes = (api, { core, store, notificationLog, clock }) => {
  api
    .route('GET', '/api/v1/alerts', 'viewer', async (r) => ({
      // mutedBy: why an open alert is not paged now (silence, maintenance, host-down, inhibition), or null.
      body: (await store.listAlerts({ ...filterOf(r.query, ['state', 'host']), limit: limitOf(r.query) })).map((a) => ({
        ...a,
        mutedBy: core.alerting.mutedReason(a),
      })),
    }))
    .route('GET', '/api/v1/alerts/{id}', 'viewer', async (r) => ({ body: (await store.getAlert(r.params.id)) ?? notFound('alert', r.params.id) }))
    .route('POST', '/api/v1/alerts/{id}/ack', 'operator', async (r) => {
      const { id } = r.params;
      const by = r.caller;
      const text = comment(r.body);
      const alert = await core.fleet.onOwner((await store.getAlert(id))?.host, { kind: 'ack', id, by, comment: text }, () =>
        core.alerting.acknowledge(id, by, text),
      );
      return { body: alert ?? notFound('open alert', id) };
    })
    .route('GET', '/api/v1/silences', 'viewer', async () => ({ body: core.alerting.listSilences() }))
    .route('POST', '/api/v1/silences', 'operator', async (r) => {
      const input = validate(r.body ?? {}, 'request body', zodValidator(silenceInput), 'API_BAD_REQUEST');
      const now = clock.now();
      const startsAt = input.startsAt ? Date.parse(input.startsAt) : now;
      const endsAt = input.endsAt ? Date.parse(input.endsAt) : startsAt + (input.duration ?? 3_600_000);
      if (!(endsAt > startsAt) || endsAt <= now) throw new ApiError('API_BAD_REQUEST', 'a silence must end after it starts, and in the future');
      const silence = await core.alerting.addSilence({
        matchers: input.matchers,
        startsAt,
        endsAt,
        createdBy: r.caller,
        comment: input.comment,
        pauseHeals: input.pauseHeals,
      });
      return { status: 201, body: silence };
    })
    .route('DELETE', '/api/v1/silences/{id}', 'operator', async (r) => {
      if (!(await core.alerting.expireSilence(r.params.id, r.caller))) notFound('active or pending silence', r.params.id);
      return { body: { expired: r.params.id } };
    })
    .route('GET', '/api/v1/notifications', 'viewer', async (r) => ({
      body: notificationLog.list({ receiver: r.query.get('receiver') ?? undefined, outcome: r.query.get('outcome') ?? undefined, limit: limitOf(r.query) }),
    }));
};
