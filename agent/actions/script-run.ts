import { childEnv } from '../child-env.js';
import { commandOutput, refuse, runCommand } from './exec.js';
import type { ActionHandler } from './types.js';

/** Runs a script by name from the agent config's allow-list; the controller never sends a command. */
export const scriptRun: ActionHandler<'script.run'> = async ({ name }, ctx) => {
  const argv = Object.hasOwn(ctx.config.scripts, name) ? ctx.config.scripts[name] : undefined;
  if (!argv) return refuse('ACTION_NOT_ALLOWED', `script ${JSON.stringify(name)} is not in this agent's config`);
  ctx.log.info({ script: name, argv }, 'running script');
  return commandOutput(await runCommand(argv, { timeoutMs: ctx.timeoutMs, maxOutputBytes: ctx.maxOutputBytes, env: childEnv(process.env, ctx.config) }));
};
