import { childEnv } from '../child-env.js';
import { commandOutput, refuse, runCommand } from './exec.js';
import type { ActionHandler } from './types.js';

/**
 * Restarts a service this agent watches, with the command its config gives; a systemd-probed
 * service without one gets `systemctl restart <unit>`. Any other service is refused.
 */
export const serviceRestart: ActionHandler<'service.restart'> = async ({ service }, ctx) => {
  const s = ctx.config.services.find((x) => x.name === service);
  if (!s) return refuse('ACTION_NOT_ALLOWED', `service ${JSON.stringify(service)} is not in this agent's config`);
  const argv = s.restart ?? (s.probe.kind === 'systemd' ? ['systemctl', 'restart', s.probe.target] : undefined);
  if (!argv) return refuse('ACTION_NOT_ALLOWED', `service ${JSON.stringify(service)} has no restart command`);
  ctx.log.info({ service, argv }, 'restarting service');
  return commandOutput(await runCommand(argv, { timeoutMs: ctx.timeoutMs, maxOutputBytes: ctx.maxOutputBytes, env: childEnv(process.env, ctx.config) }));
};
