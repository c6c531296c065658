import type { Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { LineSplitter } from './lines.js';

export interface FileFollowerOptions {
  path: string;
  onLine: (line: string, truncated: boolean) => void;
  /** Why the file cannot be followed now, or undefined once it can again. */
  onError: (reason: string | undefined) => void;
  pollMs?: number;
  /** Read at most this much per poll: a file growing faster is read with a lag, never with unbounded work. */
  maxReadBytes?: number;
  maxLineBytes?: number;
}

const CHUNK = 65_536;

/**
 * Follows a log file by its path, as `tail -F` does: from its end at start, then only the bytes
 * added since. Polled (a stat of the path and of the open file every second) rather than watched:
 * fs.watch follows an inode, not a path, so a rename-rotation silently leaves it on the old file,
 * and its events are coalesced or missing on some file systems (NFS, overlay); two stats a second
 * cost microseconds. The path now naming another file (rotation: rename then create, or delete
 * and re-create) means: finish the old file, then read the new one from its beginning; the file
 * shrinking (copytruncate) means: read it again from 0. Never throws: a failure is reported with
 * its reason through onError and retried at the next poll.
 */
export class FileFollower {
  readonly path: string;
  private readonly pollMs: number;
  private readonly maxReadBytes: number;
  private readonly lines: LineSplitter;
  private readonly chunk = Buffer.allocUnsafe(CHUNK);
  private fh: FileHandle | undefined;
  private ino = 0;
  private dev = 0;
  private pos = 0;
  /**
   * The next file opened is new (the path was absent or not a file, or the file was replaced): read
   * it from its beginning. A file that could not be opened (permissions) is read from its end once it can.
   */
  private fromStart = false;
  private error: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly opts: FileFollowerOptions) {
    this.path = opts.path;
    this.pollMs = opts.pollMs ?? 1000;
    this.maxReadBytes = opts.maxReadBytes ?? 1_048_576;
    this.lines = new LineSplitter(opts.onLine, opts.maxLineBytes ?? 8192);
  }

  /** Bytes of a partial line waiting for its newline. */
  get pendingBytes(): number {
    return this.lines.pending;
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      void this.poll().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.pollMs).unref();
      });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await this.close();
  }

  /** One look at the file: reads what was added since the last (tests call it to step without timers). */
  poll(): Promise<void> {
    this.running ??= this.step()
      .catch((e: unknown) => this.fail(errorText(e)))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async step(): Promise<void> {
    let budget = this.maxReadBytes;
    const st = await stat(this.path).catch((e: unknown) => e as NodeJS.ErrnoException);
    if (this.fh && (st instanceof Error || st.ino !== this.ino || st.dev !== this.dev)) {
      // Rotated or deleted: the old file may still hold lines written before it was moved.
      const { read, atEnd } = await this.readNew(budget);
      budget -= read;
      if (!atEnd) return;
      this.lines.flush();
      await this.close();
      this.fromStart = true;
    }
    if (st instanceof Error) {
      if (st.code === 'ENOENT') this.fromStart = true;
      return this.fail(st.code === 'ENOENT' ? 'no such file' : errorText(st));
    }
    if (!st.isFile()) {
      // Whatever file takes its place later is new.
      this.fromStart = true;
      await this.close();
      return this.fail(`not a regular file (${kind(st)})`);
    }
    if (!this.fh) {
      const fh = await open(this.path, 'r').catch((e: unknown) => e as Error);
      if (fh instanceof Error) return this.fail(errorText(fh));
      const own = await fh.stat();
      this.fh = fh;
      this.ino = own.ino;
      this.dev = own.dev;
      this.pos = this.fromStart ? 0 : own.size;
      this.fromStart = false;
      this.lines.reset();
    }
    await this.readNew(budget);
    if (this.error !== undefined) {
      this.error = undefined;
      this.opts.onError(undefined);
    }
  }

  /** Reads from the open file what was added since the last read, at most `budget` bytes. */
  private async readNew(budget: number): Promise<{ read: number; atEnd: boolean }> {
    const fh = this.fh!;
    const { size } = await fh.stat();
    if (size < this.pos) {
      // Truncated in place (copytruncate): what it holds now is new.
      this.lines.reset();
      this.pos = 0;
    }
    let read = 0;
    while (this.pos < size && read < budget && !this.stopped) {
      const { bytesRead } = await fh.read(this.chunk, 0, Math.min(CHUNK, size - this.pos, budget - read), this.pos);
      if (bytesRead === 0) break;
      this.pos += bytesRead;
      read += bytesRead;
      this.lines.push(this.chunk.subarray(0, bytesRead));
    }
    return { read, atEnd: this.pos >= size };
  }

  private async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
  }

  private async fail(reason: string): Promise<void> {
    if (this.fh) {
      // A read failed on the open file: let it go and open the path afresh next time.
      await this.close();
    }
    const text = `cannot read ${this.path}: ${reason}`.slice(0, 500);
    if (text === this.error) return;
    this.error = text;
    this.opts.onError(text);
  }
}

function errorText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  // fs messages repeat the syscall and path ("EACCES: permission denied, open '/x'"): keep the cause.
  return err.code && typeof err.message === 'string' ? err.message.replace(/,\s*\w+\s+'.*'$/s, '') : String(e);
}

function kind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a file';
}
