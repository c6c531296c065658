import type { Api } from '../server.js';
import { agentRoutes } from './agents.js';
import { alertRoutes } from './alerts.js';
import { configRoutes } from './config.js';
import type { RouteDeps, Routes } from './deps.js';
import { healRoutes } from './heals.js';
import { ruleRoutes } from './rules.js';
import { statusRoutes } from './status.js';

/** Every area of the controller's HTTP API; a new area is one file and one line here. */
export const ROUTES: readonly Routes[] = [statusRoutes, alertRoutes, healRoutes, ruleRoutes, agentRoutes, configRoutes];

export function addRoutes(api: Api, deps: RouteDeps): Api {
  for (const add of ROUTES) add(api, deps);
  return api;
}
