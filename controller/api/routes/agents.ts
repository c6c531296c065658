import { z } from 'zod';
import { validate } from '../../../protocol/index.js';
import { zDuration, zIdentifier, zodValidator } from '../../../protocol/zod.js';
import { ApiError, notFound } from '../errors.js';
import { limitOf, type Routes } from './deps.js';

const enrollInput = z.strictObject({
  token: z.string().min(1).max(200),
  agentId: zIdentifier,
  hostname: z.string().max(255).optional(),
});

const enrollTokenInput = z.strictObject({
  uses: z.number().int().min(1).max(10_000).default(1),
  ttl: zDuration.default(3_600_000),
});

/** Agent identity: enrollment, the signing key agents pin, credentials and claims, and the audit log. */
export const agentRoutes: Routes = (api, { agentAuth, links, link, audit, authFailures, signingKeyPem, log }) => {
  api
    .route('POST', '/v1/enroll', 'public', async (r) => {
      const b = validate(r.body ?? {}, 'request body', zodValidator(enrollInput), 'API_BAD_REQUEST');
      const out = await agentAuth.enroll(b.token, b.agentId, r.remote);
      if ('error' in out) {
        authFailures.fail(r.remote);
        audit.add({
          who: b.agentId,
          role: 'agent',
          from: r.remote,
          action: 'enroll',
          target: b.agentId,
          result: 'denied',
          detail: out.error,
          unauthenticated: true,
        });
        throw new ApiError('ENROLL_FAILED', out.error);
      }
      audit.add({ who: b.agentId, role: 'agent', from: r.remote, action: 'enroll', target: b.agentId, result: 'ok' });
      log.info({ agent: b.agentId, from: r.remote }, 'agent enrolled');
      await links.recheckNow();
      return { status: 201, body: { agentId: b.agentId, credential: out.credential, signingKey: signingKeyPem } };
    })
    // Public by nature: agents on a shared token pin it (laas signing-key; fetch it over TLS).
    .route('GET', '/v1/signing-key', 'public', async () => ({ body: { algorithm: 'ed25519', signingKey: signingKeyPem } }))
    .route('GET', '/api/v1/agents', 'admin', async () => ({ body: (await agentAuth.list()).map((a) => ({ ...a, connected: link.isConnected(a.id) })) }))
    .route('DELETE', '/api/v1/agents/{id}', 'admin', async (r) => {
      if (!(await agentAuth.revoke(r.params.id, r.caller))) notFound('enrolled, unrevoked agent', r.params.id);
      await links.recheckNow();
      log.warn({ agent: r.params.id, by: r.caller }, 'agent credential revoked; disconnected');
      return { body: { revoked: r.params.id } };
    })
    .route('DELETE', '/api/v1/agents/{id}/claim', 'admin', async (r) => {
      const { id } = r.params;
      const out = await agentAuth.forget(id);
      if (out === 'enrolled') throw new ApiError('API_CONFLICT', `agent ${JSON.stringify(id)} is enrolled; revoke it first (laas agents revoke ${id})`);
      if (out === 'unknown') notFound('claim of agent id', id);
      // The link on it now would claim the id again at its next hello; it has to start over like any other.
      if (links.onSharedToken(id)) link.disconnect(id, 'agent id forgotten by an operator');
      log.warn({ agent: id, by: r.caller }, 'agent id forgotten: the next hello as it claims it');
      return { body: { forgotten: id } };
    })
    .route('POST', '/api/v1/enroll-tokens', 'admin', async (r) => {
      const b = validate(r.body ?? {}, 'request body', zodValidator(enrollTokenInput), 'API_BAD_REQUEST');
      const out = await agentAuth.createEnrollToken({ uses: b.uses, ttlMs: b.ttl, createdBy: r.caller });
      return { status: 201, body: { token: out.token, ...out.info } };
    })
    .route('GET', '/api/v1/audit', 'admin', async (r) => ({
      body: audit.tail(limitOf(r.query) ?? 100, { unauthenticated: r.query.get('unauthenticated') !== 'false' }),
    }));
};
