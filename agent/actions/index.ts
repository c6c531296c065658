import { ACTIONS, MAX_FRAME_BYTES, errorMessage, isActionName, check, jsonPointer, type ActionName, type Result, type Run } from '../../protocol/index.js';
import type { ErrorCode } from '../../protocol/index.js';
import { refuse } from './exec.js';
import type { ActionContext, ActionHandler, ActionOutput } from './types.js';
import { diskCleanup } from './disk-cleanup.js';
import { processKill } from './process-kill.js';
import { scriptRun } from './script-run.js';
import { serviceRestart } from './service-restart.js';

/** The wire's limit on stdout and stderr, in characters. */
const MAX_OUTPUT_CHARS = 1_000_000;
/** What stdout and stderr may take of one link frame, leaving room for the rest of the result. */
const OUTPUT_FRAME_BUDGET = MAX_FRAME_BYTES - 16 * 1024;

export type { ActionContext, ActionHandler, ActionOutput, ActionRunContext } from './types.js';
export { commandOutput, refuse } from './exec.js';

/** The agent's allow-list: one line per action it can run. Every catalogue action must appear. */
export const ACTION_HANDLERS: { readonly [A in ActionName]: ActionHandler<A> } = {
  'service.restart': serviceRestart,
  'script.run': scriptRun,
  'process.kill': processKill,
  'disk.cleanup': diskCleanup,
};

/**
 * Checks one instruction against the catalogue, its params schema and its deadline, then runs
 * it under the agent's own limits. Always resolves to a Result: a refusal, an outcome, or —
 * if a handler itself breaks — a failure that says so.
 */
export async function runInstruction(run: Run, ctx: ActionContext, now: () => number = Date.now): Promise<Result> {
  const startedAt = Math.floor(now());
  const finish = (out: ActionOutput): Result => ({
    id: run.id,
    action: run.action,
    ...out,
    startedAt,
    durationMs: Math.max(0, now() - startedAt),
  });

  if (!isActionName(run.action) || !Object.hasOwn(ACTION_HANDLERS, run.action)) {
    return finish(refuse('ACTION_UNKNOWN', `unknown action ${JSON.stringify(run.action)} (this agent runs: ${Object.keys(ACTION_HANDLERS).join(', ')})`));
  }
  const action = run.action;
  const parsed = check(ACTIONS[action].params, run.params);
  if (!parsed.ok) {
    const issues = parsed.issues.map((i) => `${jsonPointer(['params', ...i.path])}: ${i.message}`);
    return finish(refuse('ACTION_BAD_PARAMS', `bad params for ${action}: ${issues.join('; ')}`));
  }
  if (run.deadline < startedAt) {
    return finish(refuse('ACTION_DEADLINE_PASSED', `instruction arrived ${startedAt - run.deadline}ms after its deadline; not started`));
  }

  const timeoutMs = Math.min(run.timeoutMs, ctx.config.actionTimeoutMs ?? Infinity);
  const handler = ACTION_HANDLERS[action] as ActionHandler;
  try {
    const out = await handler(parsed.value, { ...ctx, timeoutMs, maxOutputBytes: ctx.config.maxOutputBytes });
    return finish(fitOutput(out));
  } catch (e) {
    ctx.log.error({ id: run.id, action, err: errorMessage(e) }, 'action handler failed');
    return finish({
      outcome: 'failed',
      exitCode: null,
      signal: null,
      stdout: '',
      stderr: '',
      truncated: false,
      error: { code: 'ACTION_INTERNAL_ERROR' satisfies ErrorCode, message: `the agent failed while running ${action}: ${errorMessage(e)}`.slice(0, 2000) },
    });
  }
}

/**
 * The config caps output in raw bytes, but a result must also fit the wire: at most 1M
 * characters per stream, and one link frame once JSON-escaped (control bytes grow 6x).
 */
function fitOutput(out: ActionOutput): ActionOutput {
  let { stdout, stderr } = out;
  if (stdout.length > MAX_OUTPUT_CHARS || stderr.length > MAX_OUTPUT_CHARS) {
    stdout = stdout.slice(0, MAX_OUTPUT_CHARS);
    stderr = stderr.slice(0, MAX_OUTPUT_CHARS);
  }
  const encoded = (text: string) => Buffer.byteLength(JSON.stringify(text));
  while (encoded(stdout) + encoded(stderr) > OUTPUT_FRAME_BUDGET) {
    if (stdout.length >= stderr.length) stdout = stdout.slice(0, Math.floor(stdout.length / 2));
    else stderr = stderr.slice(0, Math.floor(stderr.length / 2));
  }
  return stdout === out.stdout && stderr === out.stderr ? out : { ...out, stdout, stderr, truncated: true };
}
