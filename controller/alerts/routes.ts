import { z } from 'zod';
import { zDuration } from '../../protocol/zod.js';
import { matcherSchema, matches, type Matcher } from './silences.js';

export interface Route {
  receiver?: string;
  matchers: Matcher[];
  groupBy?: string[];
  groupWait?: number;
  groupInterval?: number;
  repeatInterval?: number;
  continue: boolean;
  routes: Route[];
}

const routeSchema: z.ZodType<Route, unknown> = z.lazy(() =>
  z.strictObject({
    receiver: z.string().min(1).optional(),
    /** Label matchers like "severity=critical", "namespace=~db|cache"; all must match. */
    matchers: z.array(matcherSchema).default([]),
    /** Labels that split alerts into notification groups; ["..."] groups by every label. */
    groupBy: z.array(z.string().min(1)).optional(),
    groupWait: zDuration.optional(),
    groupInterval: zDuration.optional(),
    repeatInterval: zDuration.optional(),
    continue: z.boolean().default(false),
    routes: z.array(routeSchema).default([]),
  }),
);

export const rootRouteSchema = routeSchema;

export interface Delivery {
  receiver: string;
  groupBy: string[];
  groupWait: number;
  groupInterval: number;
  repeatInterval: number;
}

/** Speed first: the first page goes out at once; later changes of a group are batched. */
export const ROUTE_DEFAULTS = { groupBy: ['alertname', 'host'], groupWait: 0, groupInterval: 30_000, repeatInterval: 4 * 3_600_000 };

/**
 * Walks the routing tree like Alertmanager: the deepest matching routes win, `continue` lets
 * siblings match too, and children inherit their parent's settings.
 */
export function route(root: Route | undefined, labels: Readonly<Record<string, string>>): Delivery[] {
  if (!root) return [];
  const out: Delivery[] = [];
  const walk = (r: Route, inherited: Omit<Delivery, 'receiver'> & { receiver?: string }): boolean => {
    if (!matches(r.matchers, labels)) return false;
    const here = {
      receiver: r.receiver ?? inherited.receiver,
      groupBy: r.groupBy ?? inherited.groupBy,
      groupWait: r.groupWait ?? inherited.groupWait,
      groupInterval: r.groupInterval ?? inherited.groupInterval,
      repeatInterval: r.repeatInterval ?? inherited.repeatInterval,
    };
    let matchedChild = false;
    for (const child of r.routes) {
      if (walk(child, here)) {
        matchedChild = true;
        if (!child.continue) break;
      }
    }
    if (!matchedChild && here.receiver) out.push({ ...here, receiver: here.receiver });
    return true;
  };
  walk(root, { ...ROUTE_DEFAULTS });
  return out;
}

/** Receivers named directly by a rule's `notify`, with the root route's grouping. */
export function direct(receivers: readonly string[], root: Route | undefined): Delivery[] {
  const base = {
    groupBy: root?.groupBy ?? ROUTE_DEFAULTS.groupBy,
    groupWait: root?.groupWait ?? ROUTE_DEFAULTS.groupWait,
    groupInterval: root?.groupInterval ?? ROUTE_DEFAULTS.groupInterval,
    repeatInterval: root?.repeatInterval ?? ROUTE_DEFAULTS.repeatInterval,
  };
  return receivers.map((receiver) => ({ receiver, ...base }));
}
