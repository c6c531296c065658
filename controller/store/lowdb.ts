import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
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
  /**
   * From this size of the store file on, flush() (the write-ahead before each heal dispatch)
   * appends what changed to a journal and fsyncs it instead of rewriting the whole file, which
   * is then written in the background (default 1 MiB; 0 = always journal).
   */
  journalAboveBytes?: number;
}

type Section = 'hosts' | 'alerts' | 'heals' | 'state';
const JOURNAL = 'laas.journal.';

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
   * Each section's records dealt by id hash into CHUNKS chunks, each chunk's bytes kept until one
   * of its records is put again: a write hands these to the file as they are, never building one
   * string or buffer of the whole file (Buffer.from of a 7 MB string held the event loop for 100s
   * of ms), and a changed host re-joins only its chunk's ~1/64 of 20,000 hosts, not all of them.
   */
  private readonly chunks = { hosts: newChunks(), alerts: newChunks(), heals: newChunks() };
  private writeMs = 0;
  /** Bytes of the store file as last written or read: decides whether flush() journals. */
  private fileBytes = 0;
  /**
   * Records changed and not yet in the journal, with the change's sequence number: a flush()
   * journals these; a finished file write drops those it contained (sequence ≤ its snapshot's).
   */
  private readonly pending = new Map<string, number>();
  private seq = 0;
  /** Journal generation: each file write starts a new one, and deletes the ones it contains. */
  private gen = 0;
  private appending: Promise<void> = Promise.resolve();

  private constructor(private readonly opts: LowdbStoreOptions) {
    const data = emptyData();
    super(data, opts.maxHistory);
    this.file = join(opts.dataDir, 'laas.json');
    this.lockFile = join(opts.dataDir, 'laas.lock');
    this.db = new Low(new SectionFile(this.file, (d) => this.serialise(d)), data);
  }

  override async putHost(host: HostRecord): Promise<void> {
    this.texts.hosts.delete(host.id);
    this.touch('hosts', host.id);
    this.pending.set(`hosts\u0000${host.id}`, ++this.seq);
    return super.putHost(host);
  }

  override async putAlert(alert: AlertRecord): Promise<void> {
    this.texts.alerts.delete(alert.id);
    this.touch('alerts', alert.id);
    this.pending.set(`alerts\u0000${alert.id}`, ++this.seq);
    return super.putAlert(alert);
  }

  override async putHeal(heal: HealRecord): Promise<void> {
    this.texts.heals.delete(heal.id);
    this.touch('heals', heal.id);
    this.pending.set(`heals\u0000${heal.id}`, ++this.seq);
    return super.putHeal(heal);
  }

  override async putState(key: string, value: unknown): Promise<void> {
    this.stateTexts.delete(key);
    this.pending.set(`state\u0000${key}`, ++this.seq);
    return super.putState(key, value);
  }

  /** Each state record's JSON text from its last put: a claim of each agent id is a record, and 20,000 re-serialised per write cost ~25 ms. */
  private readonly stateTexts = new Map<string, string>();

  private touch(section: 'hosts' | 'alerts' | 'heals', id: string): void {
    const c = this.chunks[section][chunkOf(id)];
    c.ids.add(id);
    c.bytes = undefined;
  }

  protected override prune(): void {
    const before = [Object.keys(this.data.alerts).length, Object.keys(this.data.heals).length];
    super.prune();
    const gone = (name: 'alerts' | 'heals') => {
      const records = this.data[name];
      for (const c of this.chunks[name])
        for (const id of c.ids)
          if (!Object.hasOwn(records, id)) {
            c.ids.delete(id);
            this.texts[name].delete(id);
            c.bytes = undefined;
          }
    };
    if (Object.keys(this.data.alerts).length !== before[0]) gone('alerts');
    if (Object.keys(this.data.heals).length !== before[1]) gone('heals');
  }

  /**
   * The same JSON document as JSON.stringify(data) (compact, records in chunk order), in pieces,
   * from cached chunk bytes; yields to the event loop between rebuilt chunks.
   */
  private async serialise(d: StoreData): Promise<Buffer[]> {
    // The snapshot: every change so far is in this document, and every journal line so far
    // (generation ≤ this one); later lines go to the next generation's journal. A record put
    // while the chunks are built may be written newer than the snapshot: it is still pending.
    const snapshot = (this.snapshot = { seq: this.seq, gen: this.gen++ });
    const out: Buffer[] = [];
    let rebuilt = 0;
    for (const name of ['hosts', 'alerts', 'heals'] as const) {
      out.push(Buffer.from(name === 'hosts' ? `{"version":${JSON.stringify(d.version)},"hosts":{` : `},"${name}":{`));
      const texts = this.texts[name];
      let first = true;
      for (const c of this.chunks[name]) {
        // Held here: a put while this write yields below marks the chunk dirty again (its bytes
        // undefined), and what was built stays this snapshot's; the change goes in the next write.
        let bytes = c.bytes;
        if (bytes === undefined) {
          const records = d[name] as Record<string, unknown>;
          const parts: string[] = [];
          for (const id of c.ids) {
            if (!Object.hasOwn(records, id)) {
              c.ids.delete(id);
              texts.delete(id);
              continue;
            }
            let t = texts.get(id);
            if (t === undefined) {
              t = JSON.stringify(records[id]);
              texts.set(id, t);
            }
            parts.push(`${JSON.stringify(id)}:${t}`);
          }
          bytes = c.bytes = Buffer.from(parts.join(','));
          if (++rebuilt % 4 === 0) await new Promise<void>((r) => setImmediate(r));
        }
        if (bytes.length === 0) continue;
        if (!first) out.push(COMMA);
        out.push(bytes);
        first = false;
      }
    }
    const state: string[] = [];
    for (const [key, value] of Object.entries(d.state)) {
      let t = this.stateTexts.get(key);
      if (t === undefined) {
        t = JSON.stringify(value);
        this.stateTexts.set(key, t);
      }
      state.push(`${JSON.stringify(key)}:${t}`);
    }
    out.push(Buffer.from(`},"state":{${state.join(',')}},"journal":${snapshot.gen}}`));
    return out;
  }

  private snapshot: { seq: number; gen: number } | undefined;

  static async open(opts: LowdbStoreOptions): Promise<LowdbStore> {
    // Records, journals, the backup and the lock are the controller's alone (0700 dir, 0600 files).
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
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
        const fd = openSync(this.lockFile, 'wx', PRIVATE);
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
    } catch {
      /* already gone */
    }
  }

  private async read(): Promise<void> {
    let included = -1;
    if (existsSync(this.file)) {
      let data: unknown;
      try {
        const text = readFileSync(this.file, 'utf8');
        this.fileBytes = Buffer.byteLength(text);
        data = JSON.parse(text);
      } catch (e) {
        throw new LaasError('STORE_CORRUPT', `cannot parse the store (${errorMessage(e)}); it was left untouched — ${this.backupHint()}`, this.file);
      }
      const d = data as Partial<StoreData> & { journal?: unknown };
      if (!d || typeof d !== 'object' || d.version !== 1 || !isObject(d.hosts) || !isObject(d.alerts) || !isObject(d.heals)) {
        throw new LaasError('STORE_CORRUPT', `not a laas store (version 1 with hosts, alerts, heals); it was left untouched — ${this.backupHint()}`, this.file);
      }
      // Fill in place: the memory store and lowdb share this one object.
      Object.assign(this.data, { hosts: d.hosts, alerts: d.alerts, heals: d.heals, state: isObject(d.state) ? d.state : {} });
      if (typeof d.journal === 'number' && Number.isInteger(d.journal)) included = d.journal;
    }
    this.gen = included + 1;
    this.replay(included);
    for (const name of ['hosts', 'alerts', 'heals'] as const) for (const id of Object.keys(this.data[name])) this.touch(name, id);
  }

  /** The journals' lines written after the file's snapshot, in order: the write-aheads since. */
  private replay(included: number): void {
    const gens = readdirSync(this.opts.dataDir)
      .filter((f) => f.startsWith(JOURNAL) && /^\d+$/.test(f.slice(JOURNAL.length)))
      .map((f) => Number(f.slice(JOURNAL.length)))
      .sort((a, b) => a - b);
    let replayed = 0;
    for (const g of gens) {
      this.gen = Math.max(this.gen, g + 1);
      if (g <= included) continue; // in the file already; deleted after the next write
      const path = join(this.opts.dataDir, `${JOURNAL}${g}`);
      const lines = readFileSync(path, 'utf8').split('\n');
      for (let i = 0; i < lines.length; i++) {
        if (lines[i] === '') continue;
        let e: { s?: unknown; id?: unknown; r?: unknown };
        try {
          e = JSON.parse(lines[i]) as typeof e;
        } catch (err) {
          // A crash mid-append leaves at most the last line torn: that write-ahead never completed.
          if (i === lines.length - 1) break;
          throw new LaasError(
            'STORE_CORRUPT',
            `cannot parse line ${i + 1} of the journal (${errorMessage(err)}); it was left untouched — move it aside to start from ${this.file} alone`,
            path,
          );
        }
        if (!isObject(e) || typeof e.id !== 'string' || !['hosts', 'alerts', 'heals', 'state'].includes(e.s)) {
          throw new LaasError(
            'STORE_CORRUPT',
            `line ${i + 1} of the journal is not a store record; it was left untouched — move it aside to start from ${this.file} alone`,
            path,
          );
        }
        const section = this.data[e.s as Section] as Record<string, unknown>;
        if (e.r === undefined) delete section[e.id];
        else section[e.id] = e.r;
        replayed++;
      }
    }
    if (replayed > 0) this.changed(); // fold them into the file
  }

  protected override changed(): void {
    this.dirty = true;
    // Paced by the cost of the last write, so a big file under a trickle of changes is not
    // rewritten back to back; flush() (write-ahead, results) still writes at once.
    this.timer ??= setTimeout(
      () => {
        this.timer = undefined;
        void this.writeFile();
      },
      Math.max(this.opts.writeDelayMs ?? 20, Math.min(1000, 4 * this.writeMs)),
    );
  }

  /**
   * Everything changed so far is on disk when this resolves. A small store is rewritten whole; a
   * big one (20,000 hosts is megabytes, and every heal dispatch waits for this) gets the changed
   * records appended to a journal and fsynced, and the file catches up in the background.
   */
  override async flush(): Promise<void> {
    if (this.fileBytes < (this.opts.journalAboveBytes ?? 1 << 20)) return this.writeFile();
    try {
      await this.appendJournal();
    } catch (e) {
      this.opts.log.error(
        { dir: this.opts.dataDir, err: errorMessage(e) },
        'store journal append failed; writing the whole file instead — check disk space and permissions of the data dir',
      );
      await this.writeFile();
    }
  }

  /** Appends the records changed since the last append, one JSON line each, and fsyncs; one append at a time. */
  private appendJournal(): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.pending.size === 0) return;
      const gen = this.gen;
      const keys = [...this.pending.keys()];
      const lines: string[] = [];
      for (const key of keys) {
        const [s, id] = key.split('\u0000') as [Section, string];
        const rec = (this.data[s] as Record<string, unknown>)[id];
        let r = '';
        if (rec !== undefined && s !== 'state') {
          const texts = this.texts[s];
          r = texts.get(id) ?? JSON.stringify(rec);
          texts.set(id, r);
        } else if (rec !== undefined) r = JSON.stringify(rec);
        lines.push(`{"g":${gen},"s":"${s}","id":${JSON.stringify(id)}${r ? `,"r":${r}` : ''}}\n`);
      }
      this.pending.clear();
      try {
        const fh = await openFile(join(this.opts.dataDir, `${JOURNAL}${gen}`), 'a', PRIVATE);
        try {
          await fh.writeFile(lines.join(''));
          await fh.datasync();
        } finally {
          await fh.close();
        }
      } catch (e) {
        for (const k of keys) if (!this.pending.has(k)) this.pending.set(k, ++this.seq);
        throw e;
      }
    };
    const p = this.appending.then(run);
    this.appending = p.catch(() => undefined);
    return p;
  }

  /** Rewrites the whole file (temp file + rename) if anything changed; then drops the journals it contains. */
  private async writeFile(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.writing) await this.writing;
    if (!this.dirty) return;
    this.dirty = false;
    this.prune();
    const started = performance.now();
    this.writing = this.db
      .write()
      .then(
        () => {
          this.writeMs = performance.now() - started;
          this.opts.metrics?.storeWriteSeconds.observe(this.writeMs / 1000);
          this.afterWrite();
          this.backup();
        },
        (e) => {
          this.dirty = true;
          this.opts.metrics?.storeWriteErrors.inc();
          this.opts.log.error({ file: this.file, err: errorMessage(e) }, 'store write failed; will retry — check disk space and permissions of the data dir');
          this.timer ??= setTimeout(() => {
            this.timer = undefined;
            void this.writeFile();
          }, 1000);
        },
      )
      .finally(() => {
        this.writing = undefined;
      });
    await this.writing;
  }

  /** The file now holds the snapshot: changes up to it need no journal line, and older journals can go. */
  private afterWrite(): void {
    const snap = this.snapshot;
    if (!snap) return;
    this.fileBytes = this.db.adapter instanceof SectionFile ? this.db.adapter.lastBytes : this.fileBytes;
    for (const [k, seq] of this.pending) if (seq <= snap.seq) this.pending.delete(k);
    for (const f of readdirSync(this.opts.dataDir)) {
      if (!f.startsWith(JOURNAL) || !/^\d+$/.test(f.slice(JOURNAL.length)) || Number(f.slice(JOURNAL.length)) > snap.gen) continue;
      try {
        unlinkSync(join(this.opts.dataDir, f));
      } catch {
        /* gone already */
      }
    }
  }

  override async close(): Promise<void> {
    await this.appending;
    await this.writeFile();
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
      chmodSync(`${this.file}.bak.tmp`, PRIVATE);
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
/** Mode of every file the store makes: records and enrollment hashes are nobody else's to read. */
const PRIVATE = 0o600;
const CHUNKS = 64;
const COMMA = Buffer.from(',');
const newChunks = () => Array.from({ length: CHUNKS }, () => ({ ids: new Set<string>(), bytes: undefined as Buffer | undefined }));
/** FNV-1a of the id, to a chunk. */
function chunkOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % CHUNKS;
}

/**
 * lowdb's file adapter, writing the document from pieces: to a temp file, then renamed over the
 * store (atomic, like lowdb's own TextFile). Reading is done once, at open, by LowdbStore.read().
 */
class SectionFile implements Adapter<StoreData> {
  /** Size of the document last written. */
  lastBytes = 0;
  constructor(
    private readonly file: string,
    private readonly pieces: (d: StoreData) => Promise<Buffer[]>,
  ) {}

  async read(): Promise<StoreData | null> {
    return null;
  }

  async write(data: StoreData): Promise<void> {
    const pieces = await this.pieces(data);
    const bytes = pieces.reduce((n, p) => n + p.length, 0);
    const tmp = join(dirname(this.file), `.${basename(this.file)}.tmp`);
    const fh = await openFile(tmp, 'w', PRIVATE);
    try {
      await fh.chmod(PRIVATE); // a temp file left by a crash keeps its old mode otherwise
      // writeFile on a handle writes at its position and loops until every byte is written.
      for (const p of pieces) await fh.writeFile(p);
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
    this.lastBytes = bytes;
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
