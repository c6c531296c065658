import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Low } from 'lowdb';
import { open as openFile, rename } from 'node:fs/promises';
import type { Adapter } from 'lowdb';
import { LaasError, errorMessage, type Logger } from '../../protocol/index.js';
import type { Metrics } from '../metrics.js';
import { MemoryStore, emptyData, type StoreData } from './memory.js';
import type { AlertRecord, HealRecord, HostRecord } from './store.js';

export interface LowdbStoreOptions {
  dataDir: string;
  log: Logger;
  metrics?: Metrics;
  /** Coalesce writes that come within this window into one file write. */
  writeDelayMs?: number;
  /** Resolved alerts and finished work orders kept; the oldest go first. */
  maxHistory?: number;
}

/**
 * The zero-setup store: one JSON file in the data dir, written atomically (temp file + rename)
 * and coalesced, so a burst of changes costs one write. One process per data dir (a lock file).
 */
export class LowdbStore extends MemoryStore {
  private readonly db: Low<StoreData>;
  private readonly file: string;
  private readonly lockFile: string;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private dirty = false;
  private backedUpAt = 0;
  /**
   * Each record's JSON text, kept from its last put: a write re-serialises only what changed.
   * With 20,000 hosts the file is megabytes and JSON.stringify of all of it held the event loop
   * for ~100 ms on every write (the write-ahead before each heal dispatch included). Records in
   * `data` change only through put* (which store a copy), so a cached text is never stale.
   */
  private readonly texts = { hosts: new Map<string, string>(), alerts: new Map<string, string>(), heals: new Map<string, string>() };
  /**
   * Each section's bytes, until one of its records is put again (hosts change rarely): a write
   * hands these to the file as they are, never building one string or buffer of the whole file
   * (Buffer.from of a 7 MB string alone held the event loop for 100s of ms on this machine).
   */
  private readonly sections: { hosts?: Buffer; alerts?: Buffer; heals?: Buffer } = {};
  private writeMs = 0;

  private constructor(private readonly opts: LowdbStoreOptions) {
    const data = emptyData();
    super(data, opts.maxHistory);
    this.file = join(opts.dataDir, 'laas.json');
    this.lockFile = join(opts.dataDir, 'laas.lock');
    this.db = new Low(new SectionFile(this.file, (d) => this.serialise(d)), data);
  }

  override async putHost(host: HostRecord): Promise<void> {
    this.texts.hosts.delete(host.id);
    this.sections.hosts = undefined;
    return super.putHost(host);
  }

  override async putAlert(alert: AlertRecord): Promise<void> {
    this.texts.alerts.delete(alert.id);
    this.sections.alerts = undefined;
    return super.putAlert(alert);
  }

  override async putHeal(heal: HealRecord): Promise<void> {
    this.texts.heals.delete(heal.id);
    this.sections.heals = undefined;
    return super.putHeal(heal);
  }

  protected override prune(): void {
    const before = [Object.keys(this.data.alerts).length, Object.keys(this.data.heals).length];
    super.prune();
    if (Object.keys(this.data.alerts).length !== before[0]) this.sections.alerts = undefined;
    if (Object.keys(this.data.heals).length !== before[1]) this.sections.heals = undefined;
  }

  /** The same JSON document as JSON.stringify(data) (compact), in pieces, from cached record texts. */
  private serialise(d: StoreData): Buffer[] {
    const section = (name: 'hosts' | 'alerts' | 'heals'): Buffer => {
      const cached = this.sections[name];
      if (cached !== undefined) return cached;
      const records = d[name] as Record<string, unknown>;
      const texts = this.texts[name];
      const parts: string[] = [];
      for (const id of Object.keys(records)) {
        let t = texts.get(id);
        if (t === undefined) { t = JSON.stringify(records[id]); texts.set(id, t); }
        parts.push(`${JSON.stringify(id)}:${t}`);
      }
      // Records pruned from history leave their text behind: drop those now and then.
      if (texts.size > parts.length * 2 + 100) for (const id of texts.keys()) if (!Object.hasOwn(records, id)) texts.delete(id);
      return (this.sections[name] = Buffer.from(`{${parts.join(',')}}`));
    };
    const text = (t: string) => Buffer.from(t);
    return [
      text(`{"version":${JSON.stringify(d.version)},"hosts":`), section('hosts'), text(',"alerts":'), section('alerts'),
      text(',"heals":'), section('heals'), text(`,"state":${JSON.stringify(d.state)}}`),
    ];
  }

  static async open(opts: LowdbStoreOptions): Promise<LowdbStore> {
    mkdirSync(opts.dataDir, { recursive: true });
    const store = new LowdbStore(opts);
    store.lock();
    try {
      await store.read();
    } catch (e) {
      store.unlock();
      throw e;
    }
    return store;
  }

  private lock(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.lockFile, 'wx');
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const pid = Number(readFileSync(this.lockFile, 'utf8').trim());
        if (pid && pid !== process.pid && isAlive(pid)) {
          throw new LaasError('STORE_LOCKED', `data dir is in use by process ${pid}; stop it, or give this controller another dataDir`, this.opts.dataDir);
        }
        unlinkSync(this.lockFile); // stale lock from a process that died
      }
    }
  }

  private unlock(): void {
    try {
      if (readFileSync(this.lockFile, 'utf8').trim() === String(process.pid)) unlinkSync(this.lockFile);
    } catch { /* already gone */ }
  }

  private async read(): Promise<void> {
    if (!existsSync(this.file)) return;
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (e) {
      throw new LaasError('STORE_CORRUPT', `cannot parse the store (${errorMessage(e)}); it was left untouched — ${this.backupHint()}`, this.file);
    }
    const d = data as Partial<StoreData>;
    if (!d || typeof d !== 'object' || d.version !== 1 || !isObject(d.hosts) || !isObject(d.alerts) || !isObject(d.heals)) {
      throw new LaasError('STORE_CORRUPT', `not a laas store (version 1 with hosts, alerts, heals); it was left untouched — ${this.backupHint()}`, this.file);
    }
    // Fill in place: the memory store and lowdb share this one object.
    Object.assign(this.data, { hosts: d.hosts, alerts: d.alerts, heals: d.heals, state: isObject(d.state) ? d.state : {} });
  }

  protected override changed(): void {
    this.dirty = true;
    // Paced by the cost of the last write, so a big file under a trickle of changes is not
    // rewritten back to back; flush() (write-ahead, results) still writes at once.
    this.timer ??= setTimeout(() => { this.timer = undefined; void this.flush(); }, Math.max(this.opts.writeDelayMs ?? 20, Math.min(1000, 4 * this.writeMs)));
  }

  override async flush(): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    while (this.writing) await this.writing;
    if (!this.dirty) return;
    this.dirty = false;
    this.prune();
    const started = performance.now();
    this.writing = this.db.write().then(
      () => {
        this.writeMs = performance.now() - started;
        this.opts.metrics?.storeWriteSeconds.observe(this.writeMs / 1000);
        this.backup();
      },
      (e) => {
        this.dirty = true;
        this.opts.metrics?.storeWriteErrors.inc();
        this.opts.log.error({ file: this.file, err: errorMessage(e) }, 'store write failed; will retry — check disk space and permissions of the data dir');
        this.timer ??= setTimeout(() => { this.timer = undefined; void this.flush(); }, 1000);
      },
    ).finally(() => { this.writing = undefined; });
    await this.writing;
  }

  override async close(): Promise<void> {
    await this.flush();
    this.backup(true);
    this.unlock();
  }

  /** A copy of the last good file, at most every 10 minutes (temp file + rename, never half-written). */
  private backup(now = false): void {
    const t = Date.now();
    if (!now && t - this.backedUpAt < BACKUP_EVERY_MS) return;
    if (!existsSync(this.file)) return;
    try {
      copyFileSync(this.file, `${this.file}.bak.tmp`);
      renameSync(`${this.file}.bak.tmp`, `${this.file}.bak`);
      this.backedUpAt = t;
    } catch (e) {
      this.opts.log.warn({ err: errorMessage(e) }, 'store backup failed; the store itself is fine');
    }
  }

  private backupHint(): string {
    const bak = `${this.file}.bak`;
    return existsSync(bak)
      ? `a backup from ${statSync(bak).mtime.toISOString()} is at ${bak}: stop laas, then "mv ${bak} ${this.file}" to restore it, or move the file aside to start empty`
      : 'move it aside to start empty (no backup exists yet)';
  }
}

const BACKUP_EVERY_MS = 10 * 60_000;

/**
 * lowdb's file adapter, writing the document from pieces: to a temp file, then renamed over the
 * store (atomic, like lowdb's own TextFile). Reading is done once, at open, by LowdbStore.read().
 */
class SectionFile implements Adapter<StoreData> {
  constructor(private readonly file: string, private readonly pieces: (d: StoreData) => Buffer[]) {}

  async read(): Promise<StoreData | null> {
    return null;
  }

  async write(data: StoreData): Promise<void> {
    const pieces = this.pieces(data);
    const tmp = join(dirname(this.file), `.${basename(this.file)}.tmp`);
    const fh = await openFile(tmp, 'w');
    try {
      // writeFile on a handle writes at its position and loops until every byte is written.
      for (const p of pieces) await fh.writeFile(p);
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
  }
}

function isObject(v: unknown): v is Record<string, never> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}


