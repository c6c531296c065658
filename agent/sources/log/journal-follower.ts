import { spawn, type ChildProcess } from 'node:child_process';
import { access } from 'node:fs/promises';
import { LineSplitter } from './lines.js';

export interface JournalFollowerOptions {
  unit: string;
  onLine: (line: string, truncated: boolean) => void;
  /** Why the journal cannot be followed now, or undefined once it can again. */
  onError: (reason: string | undefined) => void;
  env: NodeJS.ProcessEnv;
  /** The journalctl binary (tests give another). */
  journalctl?: string;
  /** journald's socket: when it is absent the journal is not running, and journalctl would wait in silence. */
  socket?: string;
  maxLineBytes?: number;
  /** Restart backoff, doubling from min to max. */
  backoffMs?: { min: number; max: number };
}

/** A JSON entry this long is not a log line: journalctl shows fields over 4096 bytes as null (no --all). */
const MAX_ENTRY = 65_536;

/**
 * What one line of `journalctl -o json` says: its MESSAGE as text, or undefined. journalctl gives
 * MESSAGE as a string, as an array of bytes when it is not valid UTF-8 (or holds control
 * characters), and as null when it is longer than 4096 bytes.
 */
export function journalMessage(line: string): { message?: string; cursor?: string } {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return {};
  }
  if (typeof entry !== 'object' || entry === null) return {};
  const { MESSAGE: m, __CURSOR: c } = entry as Record<string, unknown>;
  const cursor = typeof c === 'string' ? c : undefined;
  if (typeof m === 'string') return { message: m, cursor };
  if (Array.isArray(m) && m.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) return { message: Buffer.from(m as number[]).toString('utf8'), cursor };
  return { cursor };
}

/** journalctl's arguments: from now on, or after the last entry seen. */
export function journalArgs(unit: string, cursor?: string): string[] {
  const from = cursor === undefined ? ['--lines', '0'] : [`--after-cursor=${cursor}`];
  return ['--follow', '--output', 'json', '--output-fields', 'MESSAGE', '--no-pager', '--quiet', ...from, '--unit', unit];
}

/**
 * Follows one systemd unit's journal through ONE long-running `journalctl -f -o json` child (not
 * one per sample), restarted with backoff when it exits. A restart resumes after the last entry
 * seen (--after-cursor), so nothing is counted twice. The child's lines pass the same bounded
 * splitter as files; its MESSAGE is handed on.
 */
export class JournalFollower {
  private child: ChildProcess | undefined;
  private cursor: string | undefined;
  private delay: number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private error: string | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly backoff: { min: number; max: number };

  constructor(private readonly opts: JournalFollowerOptions) {
    this.backoff = opts.backoffMs ?? { min: 1000, max: 60_000 };
    this.delay = this.backoff.min;
  }

  start(): void {
    void this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.child?.kill('SIGTERM');
    await this.exited;
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    const socket = this.opts.socket ?? '/run/systemd/journal/socket';
    const journald = await access(socket).then(
      () => true,
      () => false,
    );
    if (this.stopped) return;
    if (!journald) return this.retry(`the systemd journal is not running (no ${socket})`);
    const bin = this.opts.journalctl ?? 'journalctl';
    const args = journalArgs(this.opts.unit, this.cursor);
    let stderr = '';
    let output = false;
    const lines = new LineSplitter((line) => {
      output = true;
      const { message, cursor } = journalMessage(line);
      if (cursor !== undefined) this.cursor = cursor;
      if (message === undefined) return;
      // The message, not the JSON around it, is the log line: cap it as a file's line is capped.
      const max = this.opts.maxLineBytes ?? 8192;
      const bytes = Buffer.byteLength(message);
      this.opts.onLine(bytes > max ? Buffer.from(message).subarray(0, max).toString('utf8') : message, bytes > max);
    }, MAX_ENTRY);
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: this.opts.env });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
    child.once('spawn', () => this.ok());
    child.stdout.on('data', (chunk: Buffer) => lines.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-300)));
    child.once('error', (e: NodeJS.ErrnoException) => {
      stderr = e.code === 'ENOENT' ? `${bin} not found (install systemd's journalctl)` : e.message;
    });
    // A child that ran a good while before it ended earns a quick restart.
    const started = Date.now();
    child.once('close', (code, signal) => {
      this.child = undefined;
      if (this.stopped) return;
      if (Date.now() - started > this.backoff.max) this.delay = this.backoff.min;
      // A cursor journalctl refuses (the journal was vacuumed or rebuilt) must not fail every restart.
      if (!output) this.cursor = undefined;
      const why = stderr.trim() || (signal ? `killed by ${signal}` : `exit code ${code}`);
      this.retry(`journalctl for ${this.opts.unit} stopped: ${why.replace(/\s+/g, ' ')}`);
    });
  }

  private retry(reason: string): void {
    this.fail(reason);
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.run(), this.delay).unref();
    this.delay = Math.min(this.delay * 2, this.backoff.max);
  }

  private ok(): void {
    if (this.error === undefined) return;
    this.error = undefined;
    this.opts.onError(undefined);
  }

  private fail(reason: string): void {
    const text = reason.slice(0, 500);
    if (text === this.error) return;
    this.error = text;
    this.opts.onError(text);
  }
}
