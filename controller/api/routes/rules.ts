import { zodIssues } from '../../../protocol/zod.js';
import { formatRuleError } from '../../rules/load.js';
import { ruleSchema } from '../../rules/schema.js';
import { notFound } from '../errors.js';
import type { Routes } from './deps.js';

/** The rules in force, reloading them, checking one, and running a scheduled rule now. */
export const ruleRoutes: Routes = (api, { core, reloadRules }) => {
  api
    .route('GET', '/api/v1/rules', 'viewer', async () => ({
      body: core.ruleSet.map((r) => ({
        id: r.id,
        namespace: r.namespace,
        name: r.name,
        file: r.file,
        severity: r.severity,
        mode: r.effectiveMode,
        schedule: r.schedule ?? null,
        heal: r.heal ?? null,
      })),
    }))
    .route('POST', '/api/v1/rules/reload', 'admin', async () => {
      const out = await reloadRules();
      return { status: out.ok ? 200 : 422, body: { ...out, errors: out.errors.map((e) => ({ ...e, text: formatRuleError(e) })) } };
    })
    .route('POST', '/api/v1/rules/validate', 'viewer', async (r) => {
      const parsed = ruleSchema.safeParse(r.body);
      const errors = parsed.success ? [] : zodIssues(parsed.error);
      return { status: errors.length ? 422 : 200, body: { valid: errors.length === 0, errors } };
    })
    .route('POST', '/api/v1/rules/{namespace}/{name}/run', 'operator', async (r) => {
      const id = `${r.params.namespace}/${r.params.name}`;
      if (!core.rule(id)?.schedule) notFound('scheduled rule', id);
      return { body: await core.runSchedule(id) };
    });
};
