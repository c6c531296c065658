// Shared by the registry (index.ts) and its members: members import this, never the registry.

import type { ActionName, ActionParams, Logger, Result } from '../../protocol/index.js';
import type { AgentConfig } from '../config.js';

export interface ActionContext {
  config: AgentConfig;
  log: Logger;
}

/** What a handler gets besides its params: the limits this run must keep. */
export interface ActionRunContext extends ActionContext {
  timeoutMs: number;
  maxOutputBytes: number;
}

/** What an action produced; runInstruction adds the id, action name and timing. */
export type ActionOutput = Pick<Result, 'outcome' | 'exitCode' | 'signal' | 'stdout' | 'stderr' | 'truncated' | 'error'>;

export type ActionHandler<A extends ActionName = ActionName> = (params: ActionParams<A>, ctx: ActionRunContext) => Promise<ActionOutput>;
