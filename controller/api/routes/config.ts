import type { Routes } from './deps.js';

/** controller.json, reloaded in place (as SIGHUP does). */
export const configRoutes: Routes = (api, { reloadConfig }) => {
  api.route('POST', '/api/v1/config/reload', 'admin', async () => {
    const out = reloadConfig();
    return { status: out.ok ? 200 : 422, body: out };
  });
};
