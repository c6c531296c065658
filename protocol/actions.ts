import { z } from 'zod';

/**
 * The action catalogue: every instruction an agent may be asked to run, with its parameter
 * schema. The controller checks rules against it at load (a bad rule fails then, not when it
 * fires); the agent checks every instruction against it again before running anything.
 */
export const ACTIONS = {
  'service.restart': {
    description: 'restart a service named in the agent config (its restart command, or systemctl for systemd probes)',
    params: z.strictObject({ service: z.string().min(1).max(200) }),
    defaultTimeoutMs: 60_000,
  },
  'script.run': {
    description: 'run a script named in the agent config',
    params: z.strictObject({ name: z.string().min(1).max(200) }),
    defaultTimeoutMs: 300_000,
  },
} as const;

export type ActionName = keyof typeof ACTIONS;
export type ActionParams<A extends ActionName> = z.infer<(typeof ACTIONS)[A]['params']>;

export function isActionName(name: string): name is ActionName {
  return Object.hasOwn(ACTIONS, name);
}

export const ACTION_NAMES = Object.keys(ACTIONS) as ActionName[];
