import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { LaasError, errorMessage, jsonPointer, type Logger, type Validator } from '../protocol/index.js';

/**
 * A small JSON file in the agent's state directory, written atomically (temp file, fsync,
 * rename, fsync of the folder) so a crash leaves the old or the new content, never half.
 * Writes are serialised; a file that does not parse is reported and moved aside, never fatal.
 */
export class StateFile<T> {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly schema: Validator<T>,
    private readonly log: Logger,
  ) {}

  /** The saved value, or undefined when there is none (or it was corrupt and is now moved aside). */
  load(): T | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new LaasError('AGENT_STATE_CORRUPT', `cannot read: ${errorMessage(e)}`, this.file);
    }
    try {
      const r = this.schema.parse(JSON.parse(text));
      if (!r.ok)
        throw new Error(
          r.issues
            .slice(0, 3)
            .map((i) => `${jsonPointer(i.path)}: ${i.message}`)
            .join('; '),
        );
      return r.value;
    } catch (e) {
      const aside = join(dirname(this.file), `${basename(this.file)}.corrupt-${Date.now()}`);
      renameSync(this.file, aside);
      const err = new LaasError('AGENT_STATE_CORRUPT', `not a valid state file (${errorMessage(e)}); moved aside to ${aside} and starting empty`, this.file);
      this.log.error({ code: err.code, file: this.file, movedTo: aside }, err.message);
      return undefined;
    }
  }

  /** Writes the value; resolves once it is durably on disk. Writes happen in call order. */
  save(value: T): Promise<void> {
    const text = JSON.stringify(value);
    const next = this.chain.then(() => writeAtomic(this.file, text));
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** The same, synchronously (for the last write when the agent stops). */
  saveSync(value: T): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(value), { mode: 0o600 });
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }

  /** Resolves when every write asked for so far is done. */
  settled(): Promise<void> {
    return this.chain;
  }
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  // The rename itself is durable only once the folder is synced.
  const dir = await open(dirname(file), 'r');
  try {
    await dir.sync();
  } catch {
    /* some filesystems refuse fsync on a folder */
  } finally {
    await dir.close();
  }
}
