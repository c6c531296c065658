import { constants, existsSync, type Dir, type Stats } from 'node:fs';
import { lstat, open, opendir, readlink, unlink, type FileHandle } from 'node:fs/promises';

/** A directory opened by itself: never through a link in its last component. */
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/**
 * Node has no openat/unlinkat, but on Linux `/proc/self/fd/N/name` resolves directory N through
 * its open descriptor, not by path: what was opened stays what is read and deleted from, even
 * if the path it was opened by is swapped for a link meanwhile. Without /proc there is no such
 * way, and callers refuse rather than fall back to racy path names.
 */
export function descriptorPathsWork(): boolean {
  return process.platform === 'linux' && existsSync('/proc/self/fd');
}

/**
 * An open directory: children are opened, listed, lstat'ed and unlinked relative to it, with
 * O_NOFOLLOW on every directory opened, so no link is ever followed. Close it when done.
 */
export class DirFd {
  private constructor(
    private readonly handle: FileHandle,
    readonly dev: number,
  ) {}

  /** Opens an absolute path whose last component must be a directory itself (not a link to one). */
  static async open(path: string): Promise<DirFd> {
    return DirFd.from(await open(path, DIR_FLAGS));
  }

  private static async from(handle: FileHandle): Promise<DirFd> {
    try {
      return new DirFd(handle, (await handle.stat()).dev);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /** The path that reaches this very directory through its descriptor. */
  private get via(): string {
    return `/proc/self/fd/${this.handle.fd}`;
  }

  private at(name: string): string {
    if (name === '' || name === '.' || name === '..' || name.includes('/')) throw new Error(`not a plain file name: ${JSON.stringify(name)}`);
    return `${this.via}/${name}`;
  }

  /** Opens a child directory; a link (or anything not a directory) there fails (ENOTDIR/ELOOP). */
  async child(name: string): Promise<DirFd> {
    return DirFd.from(await open(this.at(name), DIR_FLAGS));
  }

  lstat(name: string): Promise<Stats> {
    return lstat(this.at(name));
  }

  unlink(name: string): Promise<void> {
    return unlink(this.at(name));
  }

  /** Lists this directory (its own descriptor, so the entries are this directory's). */
  list(bufferSize = 256): Promise<Dir> {
    return opendir(this.via, { bufferSize });
  }

  /** Where this directory is now (it may have been moved since it was opened); " (deleted)" when gone. */
  whereNow(): Promise<string> {
    return readlink(this.via);
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
