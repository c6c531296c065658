import { z } from 'zod';
import { kindAt } from './fact-types.js';
import { when } from './condition-schema.js';
import { FACTS } from './leaf.js';
import { parsePath } from './path.js';

const comparison = z.strictObject({
  operator: z.enum(['equal', 'notEqual', 'lessThan', 'lessThanInclusive', 'greaterThan', 'greaterThanInclusive']),
  value: z.number(),
});

/**
 * A fleet condition, judged over the hosts the rule selects that are up (members): how many of
 * them (`count`) or what share, in percent (`share`), meet the per-host condition `where`; or the
 * mean of a number over them (`avg`). With fewer members than `minHosts` it is not enough data.
 */
export const fleetSchema = z
  .strictObject({
    where: when.optional(),
    count: comparison.optional(),
    share: comparison.optional(),
    avg: z
      .strictObject({
        fact: z.string().refine((f) => (FACTS as readonly string[]).includes(f), { error: `unknown fact (known: ${FACTS.join(', ')})` }),
        path: z.string().optional(),
        ...comparison.shape,
      })
      .optional(),
    minHosts: z.number().int().min(1).default(1),
  })
  .superRefine((f, ctx) => {
    const given = (['count', 'share', 'avg'] as const).filter((k) => f[k] !== undefined);
    if (given.length !== 1)
      ctx.addIssue({ code: 'custom', path: given.length ? [given[1]] : [], message: 'a fleet condition has one of "count", "share" or "avg"' });
    if ((f.count || f.share) && f.where === undefined)
      ctx.addIssue({ code: 'custom', path: ['where'], message: '"count" and "share" count the hosts that meet "where": give it' });
    if (f.avg) {
      const tokens = parsePath(f.avg.path ?? '$');
      if (typeof tokens === 'string') ctx.addIssue({ code: 'custom', path: ['avg', 'path'], message: `bad path ${JSON.stringify(f.avg.path)}: ${tokens}` });
      else {
        const kind = kindAt(f.avg.fact, tokens);
        if (kind !== 'number' && kind !== 'boolean' && kind !== 'unknown')
          ctx.addIssue({
            code: 'custom',
            path: ['avg', 'path'],
            message: `"avg" needs a number, and ${JSON.stringify(f.avg.path ?? '$')} of ${f.avg.fact} is ${kind}`,
          });
      }
    }
  });

export type FleetSpec = z.output<typeof fleetSchema>;
