import { lstat, opendir, realpath, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { errorMessage } from '../../protocol/index.js';
import { refuse } from './exec.js';
import type { ActionHandler, ActionOutput } from './index.js';

/** Directory entries one run looks at, at most: a runaway tree cannot pin the agent. */
export const MAX_CLEANUP_ENTRIES = 100_000;
/** Levels below the path one run descends, at most. */
export const MAX_CLEANUP_DEPTH = 20;
/** Error messages stderr carries; the count in stdout has them all. */
const MAX_LISTED_ERRORS = 5;

export interface CleanupOptions {
  olderThanMs: number;
  pattern: string;
  dryRun: boolean;
  recursive: boolean;
  /** Epoch ms: files last modified before `now - olderThanMs` are old. */
  now: number;
  /** Epoch ms after which the walk stops where it is. */
  deadline: number;
  maxEntries?: number;
  maxDepth?: number;
}

/** The summary stdout carries as one JSON line. */
export interface CleanupCounts {
  matched: number;
  deleted: number;
  /** Bytes deleted; with dryRun, the bytes that would have been. */
  bytes: number;
  dryRun: boolean;
  errors: number;
}

export interface CleanupReport extends CleanupCounts {
  /** The first few error messages. */
  messages: string[];
  /** Why the walk did not cover everything (entry or depth limit), if it did not. */
  notes: string[];
  timedOut: boolean;
}

/**
 * Deletes old files whose name matches a pattern under a path in the agent's `cleanupRoots`.
 * The path is resolved through symbolic links first and refused unless it lies under a root's
 * own real path; the walk itself never follows a link, and re-checks each directory's real path
 * before reading it, so a link (or a directory swapped for one) cannot lead it outside.
 * Only regular files are deleted; directories are left in place, even when emptied.
 */
export const diskCleanup: ActionHandler<'disk.cleanup'> = async (params, ctx) => {
  const roots = ctx.config.cleanupRoots;
  if (roots.length === 0) {
    return refuse('ACTION_NOT_ALLOWED', 'this agent\'s config has no cleanupRoots, so disk.cleanup may not delete anywhere');
  }
  const realRoots = await realRootsOf(roots);
  let real: string;
  try {
    real = await realpath(params.path);
  } catch (e) {
    // Say "does not exist" only for paths the agent may clean: no probing of the rest of the disk.
    const lexical = resolve(params.path);
    const allowed = [...roots, ...realRoots].some((r) => within(lexical, r));
    if (!allowed) return refuse('ACTION_NOT_ALLOWED', notUnderRoots(params.path, undefined, roots));
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES') return refuse('ACTION_PERMISSION_DENIED', `cannot resolve ${params.path}: permission denied`);
    return refuse('ACTION_TARGET_NOT_FOUND', `${params.path} does not exist (${code ?? errorMessage(e)})`);
  }
  const root = realRoots.find((r) => within(real, r));
  if (root === undefined) return refuse('ACTION_NOT_ALLOWED', notUnderRoots(params.path, real, roots));

  ctx.log.info({ path: real, olderThanMs: params.olderThan, pattern: params.pattern, dryRun: params.dryRun }, 'cleaning up');
  const now = Date.now();
  const report = await cleanup(real, {
    olderThanMs: params.olderThan, pattern: params.pattern, dryRun: params.dryRun, recursive: params.recursive,
    now, deadline: now + ctx.timeoutMs,
  });
  return cleanupOutput(report, ctx.timeoutMs);
};

/**
 * Walks `start` (a real path, already checked against the roots) and deletes, or with dryRun
 * only counts, the old regular files matching the pattern. Never throws for a file or directory
 * it cannot handle: each such problem is counted in `errors`.
 */
export async function cleanup(start: string, opts: CleanupOptions): Promise<CleanupReport> {
  const maxEntries = opts.maxEntries ?? MAX_CLEANUP_ENTRIES;
  const maxDepth = opts.maxDepth ?? MAX_CLEANUP_DEPTH;
  const match = globToRegExp(opts.pattern);
  const cutoff = opts.now - opts.olderThanMs;
  const report: CleanupReport = { matched: 0, deleted: 0, bytes: 0, dryRun: opts.dryRun, errors: 0, messages: [], notes: [], timedOut: false };
  const problem = (message: string) => {
    report.errors++;
    if (report.messages.length < MAX_LISTED_ERRORS) report.messages.push(message);
  };

  /** Deletes (or counts) one entry already known to be a regular file by name. */
  const consider = async (file: string) => {
    let st;
    try {
      st = await lstat(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') problem(`${file}: ${errorMessage(e)}`);
      return;
    }
    if (!st.isFile() || st.mtimeMs >= cutoff) return;
    report.matched++;
    if (opts.dryRun) { report.bytes += st.size; return; }
    try {
      await unlink(file);
      report.deleted++;
      report.bytes += st.size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') problem(`${file}: ${errorMessage(e)}`);
    }
  };

  let top;
  try {
    top = await lstat(start);
  } catch (e) {
    problem(`${start}: ${errorMessage(e)}`);
    return report;
  }
  if (!top.isDirectory()) {
    if (top.isFile() && match.test(basename(start))) await consider(start);
    return report;
  }

  let entries = 0;
  let deeper = 0;
  const stack: { dir: string; depth: number }[] = [{ dir: start, depth: 0 }];
  walk: while (stack.length > 0) {
    const { dir, depth } = stack.pop()!;
    if (Date.now() > opts.deadline) { report.timedOut = true; break; }
    // Found as a plain directory, but it may have been swapped for a link since: look again.
    if (depth > 0) {
      try {
        if ((await realpath(dir)) !== dir) { problem(`${dir}: no longer a directory of its own (replaced by a link?); skipped`); continue; }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') problem(`${dir}: ${errorMessage(e)}`);
        continue;
      }
    }
    let handle;
    try {
      handle = await opendir(dir, { bufferSize: 256 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') problem(`${dir}: ${errorMessage(e)}`);
      continue;
    }
    try {
      for await (const ent of handle) {
        if (++entries > maxEntries) {
          report.notes.push(`stopped after ${maxEntries} entries; run again to continue`);
          break walk;
        }
        const path = join(dir, ent.name);
        if (ent.isSymbolicLink()) continue;
        if (ent.isDirectory()) {
          if (!opts.recursive) continue;
          if (depth + 1 > maxDepth) { deeper++; continue; }
          stack.push({ dir: path, depth: depth + 1 });
        } else if (ent.isFile() && match.test(ent.name)) {
          await consider(path);
        }
        if (Date.now() > opts.deadline) { report.timedOut = true; break walk; }
      }
    } catch (e) {
      problem(`${dir}: ${errorMessage(e)}`);
    }
  }
  if (deeper > 0) report.notes.push(`skipped ${deeper} director${deeper === 1 ? 'y' : 'ies'} deeper than ${maxDepth} levels`);
  return report;
}

/** A file name glob: "*" is any run of characters (also a leading "."), "?" any one; the rest is literal. */
export function globToRegExp(pattern: string): RegExp {
  const body = [...pattern].map((c) => c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.+()[\]{}|/]/g, '\\$&')).join('');
  return new RegExp(`^${body}$`, 'su');
}

/** True when `path` is `root` or lies under it ("/var/log2" is not under "/var/log"). */
export function within(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** The roots' real paths; a root that is missing, or really "/", allows nothing. */
async function realRootsOf(roots: readonly string[]): Promise<string[]> {
  const real = await Promise.all(roots.map((r) => realpath(r).catch(() => undefined)));
  return real.filter((r): r is string => r !== undefined && dirname(r) !== r);
}

function notUnderRoots(path: string, real: string | undefined, roots: readonly string[]): string {
  const really = real !== undefined && real !== path ? ` (really ${real})` : '';
  return `${path}${really} is not under a cleanup root of this agent (${roots.join(', ')})`;
}

/** One JSON line of counts on stdout; the first errors and any notes on stderr. */
export function cleanupOutput(report: CleanupReport, timeoutMs: number): ActionOutput {
  const counts: CleanupCounts = { matched: report.matched, deleted: report.deleted, bytes: report.bytes, dryRun: report.dryRun, errors: report.errors };
  const lines = [...report.messages];
  if (report.errors > report.messages.length) lines.push(`… and ${report.errors - report.messages.length} more errors`);
  if (report.timedOut) lines.push(`stopped after ${timeoutMs}ms (the action's timeout); run again to continue`);
  lines.push(...report.notes);
  return {
    outcome: report.timedOut ? 'timed-out' : 'succeeded',
    exitCode: null,
    signal: null,
    stdout: `${JSON.stringify(counts)}\n`,
    stderr: lines.length > 0 ? `${lines.join('\n')}\n` : '',
    truncated: false,
  };
}
