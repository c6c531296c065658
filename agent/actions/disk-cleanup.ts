import { realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { errorMessage } from '../../protocol/index.js';
import { DirFd, descriptorPathsWork } from './dir-fd.js';
import { refuse } from './exec.js';
import type { ActionHandler, ActionOutput } from './types.js';

/** Directory entries one run looks at, at most: a runaway tree cannot pin the agent. */
export const MAX_CLEANUP_ENTRIES = 100_000;
/** Levels below the path one run descends, at most (so at most this many + 2 descriptors are open at once). */
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
  /**
   * The real path of the cleanup root `start` lies under (default: `start` itself). The walk
   * opens it and descends from it; every directory it enters must be on the root's filesystem,
   * and every deletion happens in a directory that is still under it.
   */
  root?: string;
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
  /** Why the walk did not cover everything (entry or depth limit, other filesystems), if it did not. */
  notes: string[];
  timedOut: boolean;
}

/**
 * Deletes old files whose name matches a pattern under a path in the agent's `cleanupRoots`.
 * The path is resolved through symbolic links first and refused unless it lies under a root's
 * own real path. The walk then works on open directory descriptors (see dir-fd.ts): it opens the
 * root and each directory below it relative to its parent, never through a link, never onto
 * another filesystem, and deletes relative to the parent's descriptor once it has checked that
 * directory is still under the root — so a directory swapped for a link meanwhile cannot lead
 * it outside. Only regular files are deleted; directories are left in place, even when emptied.
 */
export const diskCleanup: ActionHandler<'disk.cleanup'> = async (params, ctx) => {
  const roots = ctx.config.cleanupRoots;
  if (roots.length === 0) {
    return refuse('ACTION_NOT_ALLOWED', "this agent's config has no cleanupRoots, so disk.cleanup may not delete anywhere");
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
  // The nearest root decides: a mount point listed as a root of its own may be cleaned.
  const root = realRoots.filter((r) => within(real, r)).sort((a, b) => b.length - a.length)[0];
  if (root === undefined) return refuse('ACTION_NOT_ALLOWED', notUnderRoots(params.path, real, roots));
  if (!descriptorPathsWork()) {
    return refuse(
      'ACTION_UNSUPPORTED',
      'disk.cleanup needs /proc/self/fd (Linux) to walk directories without following links, and this system has none; nothing was deleted (clean up with a script.run instead)',
    );
  }

  ctx.log.info({ path: real, olderThanMs: params.olderThan, pattern: params.pattern, dryRun: params.dryRun }, 'cleaning up');
  const now = Date.now();
  const report = await cleanup(real, {
    olderThanMs: params.olderThan,
    pattern: params.pattern,
    dryRun: params.dryRun,
    recursive: params.recursive,
    now,
    deadline: now + ctx.timeoutMs,
    root,
  });
  if (report.refusal) return refuse('ACTION_NOT_ALLOWED', report.refusal);
  return cleanupOutput(report, ctx.timeoutMs);
};

/**
 * Walks `start` (a real path under `opts.root`, already checked against the roots) and deletes,
 * or with dryRun only counts, the old regular files matching the pattern. Never throws for a
 * file or directory it cannot handle: each such problem is counted in `errors`. `refusal` is
 * set (and nothing done) when `start` lies on another filesystem than its root.
 */
export async function cleanup(start: string, opts: CleanupOptions): Promise<CleanupReport & { refusal?: string }> {
  const maxEntries = opts.maxEntries ?? MAX_CLEANUP_ENTRIES;
  const maxDepth = opts.maxDepth ?? MAX_CLEANUP_DEPTH;
  const rootPath = opts.root ?? start;
  const match = globToRegExp(opts.pattern);
  const cutoff = opts.now - opts.olderThanMs;
  const report: CleanupReport & { refusal?: string } = {
    matched: 0,
    deleted: 0,
    bytes: 0,
    dryRun: opts.dryRun,
    errors: 0,
    messages: [],
    notes: [],
    timedOut: false,
  };
  const problem = (message: string) => {
    report.errors++;
    if (report.messages.length < MAX_LISTED_ERRORS) report.messages.push(message);
  };
  const failed = (path: string, e: unknown) => {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return; // gone meanwhile: nothing to clean there
    if (code === 'ENOTDIR' || code === 'ELOOP') problem(`${path}: no longer a directory of its own (replaced by a link?); skipped`);
    else problem(`${path}: ${errorMessage(e)}`);
  };
  const rel = relative(rootPath, start);
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    problem(`${start}: not under ${rootPath}`);
    return report;
  }
  const steps = rel === '' ? [] : rel.split(sep);

  let root: DirFd;
  try {
    root = await DirFd.open(rootPath);
  } catch (e) {
    failed(rootPath, e);
    return report;
  }
  /** Directories held open: the root, each ancestor of where the walk is, and that directory. */
  const open: DirFd[] = [root];
  // O_NOFOLLOW guards only the last component: the root's real path must still be what was opened.
  const opened = await root.whereNow().catch(() => '');
  if (opened !== rootPath) {
    problem(`${rootPath}: the cleanup root moved while it was opened (now ${opened || 'unknown'}); nothing done`);
    await root.close().catch(() => undefined);
    return report;
  }
  /** Opens a child directory of `parent`; 'other-fs' for a mount point, undefined when it cannot. */
  const enter = async (parent: DirFd, name: string, path: string): Promise<DirFd | 'other-fs' | undefined> => {
    let dir: DirFd;
    try {
      dir = await parent.child(name);
    } catch (e) {
      failed(path, e);
      return undefined;
    }
    if (dir.dev !== root.dev) {
      await dir.close();
      return 'other-fs';
    }
    return dir;
  };

  /** Deletes (or counts) one entry of `dir` already known to be a regular file by name. */
  const consider = async (dir: DirFd, name: string, path: string) => {
    let st;
    try {
      st = await dir.lstat(name);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') problem(`${path}: ${errorMessage(e)}`);
      return;
    }
    if (!st.isFile() || st.mtimeMs >= cutoff) return;
    report.matched++;
    if (opts.dryRun) {
      report.bytes += st.size;
      return;
    }
    try {
      // The descriptor pins the directory, but the directory itself may have been moved away.
      const now = await dir.whereNow();
      if (!within(now, rootPath)) {
        problem(`${path}: its directory is no longer under ${rootPath} (now ${now}); not deleted`);
        return;
      }
      await dir.unlink(name);
      report.deleted++;
      report.bytes += st.size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') problem(`${path}: ${errorMessage(e)}`);
    }
  };

  let entries = 0;
  let deeper = 0;
  let otherFs = 0;
  let stop = false;
  const overdue = () => {
    if (Date.now() > opts.deadline) {
      report.timedOut = true;
      stop = true;
    }
    return stop;
  };

  /** Lists one directory, handles its files, then descends into its subdirectories one at a time. */
  const walk = async (dir: DirFd, path: string, depth: number): Promise<void> => {
    if (overdue()) return;
    const subdirs: string[] = [];
    let listing;
    try {
      listing = await dir.list();
    } catch (e) {
      failed(path, e);
      return;
    }
    try {
      for await (const ent of listing) {
        if (++entries > maxEntries) {
          report.notes.push(`stopped after ${maxEntries} entries; run again to continue`);
          stop = true;
          break;
        }
        if (ent.isSymbolicLink()) continue;
        if (ent.isDirectory()) {
          if (!opts.recursive) continue;
          if (depth + 1 > maxDepth) {
            deeper++;
            continue;
          }
          subdirs.push(ent.name);
        } else if (ent.isFile() && match.test(ent.name)) {
          await consider(dir, ent.name, join(path, ent.name));
        }
        if (overdue()) break;
      }
    } catch (e) {
      problem(`${path}: ${errorMessage(e)}`);
    } finally {
      // Breaking out of the loop closes the listing; a finished loop already has.
      await listing.close().catch(() => undefined);
    }
    for (const name of subdirs) {
      if (stop || overdue()) return;
      const sub = join(path, name);
      const child = await enter(dir, name, sub);
      if (child === 'other-fs') otherFs++;
      if (child === undefined || child === 'other-fs') continue;
      open.push(child);
      try {
        await walk(child, sub, depth + 1);
      } finally {
        open.pop();
        await child.close();
      }
    }
  };

  try {
    // Down from the root to start, one component at a time, each opened relative to its parent.
    let dir = root;
    let path = rootPath;
    for (const [i, name] of steps.entries()) {
      path = join(path, name);
      const last = i === steps.length - 1;
      let st;
      try {
        st = await dir.lstat(name);
      } catch (e) {
        failed(path, e);
        return report;
      }
      if (last && st.isFile()) {
        if (match.test(name)) await consider(dir, name, path);
        return report;
      }
      if (!st.isDirectory()) {
        if (!last) problem(`${path}: no longer a directory of its own (replaced by a link?); skipped`);
        return report;
      }
      if (st.dev !== root.dev) {
        report.refusal = `${path} is on another filesystem than its cleanup root ${rootPath} (a mount point); add it to cleanupRoots to clean it`;
        return report;
      }
      const next = await enter(dir, name, path);
      if (next === 'other-fs')
        report.refusal = `${path} is on another filesystem than its cleanup root ${rootPath} (a mount point); add it to cleanupRoots to clean it`;
      if (next === undefined || next === 'other-fs') return report;
      open.push(next);
      dir = next;
    }
    await walk(dir, start, 0);
  } finally {
    await Promise.all(open.map((d) => d.close().catch(() => undefined)));
  }
  if (deeper > 0) report.notes.push(`skipped ${deeper} director${deeper === 1 ? 'y' : 'ies'} deeper than ${opts.maxDepth ?? MAX_CLEANUP_DEPTH} levels`);
  if (otherFs > 0) report.notes.push(`skipped ${otherFs} director${otherFs === 1 ? 'y' : 'ies'} on another filesystem (mount points are not crossed)`);
  return report;
}

/** A file name glob: "*" is any run of characters (also a leading "."), "?" any one; the rest is literal. */
export function globToRegExp(pattern: string): RegExp {
  const body = [...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.+()[\]{}|/]/g, '\\$&'))).join('');
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
