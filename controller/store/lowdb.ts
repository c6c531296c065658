import { closeSync, existsSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import { LaasError, errorMessage, type Logger } from '../../protocol/index.js';
import type { Metrics } from '../metrics.js';
import type { AlertRecord, HealRecord, HostRecord, Store } from './store.js';

interface Data {
  version: 1;
  hosts: Record<string, HostRecord>;
  alerts: Record<string, AlertRecord>;
  heals: Record<string, HealRecord>;
}

export interface LowdbStoreOptions {
  dataDir: string;
  log: Logger;
  metrics?: Metrics;
  /** Coalesce writes that come within this window into one file write. */
  writeDelayMs?: number;
  /** Resolved alerts and finished work orders kept; the oldest go first. */
  maxHistory?: number;
}

const EMPTY = (): Data => ({ version: 1, hosts: {}, alerts: {}, heals: {} });

/**
 * The zero-setup store: one JSON file in the data dir, written atomically (temp file + rename)
 * and coalesced, so a burst of changes costs one write. One process per data dir (a lock file).
 */
export class LowdbStore implements Store {
  private readonly db: Low<Data>;
  private readonly file: string;
  private readonly lockFile: string;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private dirty = false;

  private constructor(private readonly opts: LowdbStoreOptions) {
    this.file = join(opts.dataDir, 'laas.json');
    this.lockFile = join(opts.dataDir, 'laas.lock');
    this.db = new Low(new JSONFile<Data>(this.file), EMPTY());
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
      throw new LaasError('STORE_CORRUPT', `cannot parse the store (${errorMessage(e)}); it was left untouched — restore a backup, or move it aside to start empty`, this.file);
    }
    const d = data as Partial<Data>;
    if (!d || typeof d !== 'object' || d.version !== 1 || typeof d.hosts !== 'object' || typeof d.alerts !== 'object' || typeof d.heals !== 'object') {
      throw new LaasError('STORE_CORRUPT', 'not a laas store (version 1 with hosts, alerts, heals); it was left untouched — move it aside to start empty', this.file);
    }
    this.db.data = d as Data;
  }

  async listHosts() { return Object.values(this.db.data.hosts).map(clone); }
  async getHost(id: string) { return cloneOpt(this.db.data.hosts[id]); }
  async putHost(host: HostRecord) { this.db.data.hosts[host.id] = clone(host); this.changed(); }

  async listAlerts(filter: { state?: string; host?: string; limit?: number } = {}) {
    const all = Object.values(this.db.data.alerts)
      .filter((a) => (!filter.state || a.state === filter.state) && (!filter.host || a.host === filter.host))
      .sort((a, b) => b.startsAt.localeCompare(a.startsAt));
    return all.slice(0, filter.limit ?? all.length).map(clone);
  }
  async getAlert(id: string) { return cloneOpt(this.db.data.alerts[id]); }
  async putAlert(alert: AlertRecord) { this.db.data.alerts[alert.id] = clone(alert); this.changed(); }

  async listHeals(filter: { state?: string; host?: string; rule?: string; since?: string; limit?: number } = {}) {
    const all = Object.values(this.db.data.heals)
      .filter((h) => (!filter.state || h.state === filter.state) && (!filter.host || h.host === filter.host)
        && (!filter.rule || h.rule === filter.rule) && (!filter.since || h.createdAt >= filter.since))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    return all.slice(0, filter.limit ?? all.length).map(clone);
  }
  async getHeal(id: string) { return cloneOpt(this.db.data.heals[id]); }
  async putHeal(heal: HealRecord) { this.db.data.heals[heal.id] = clone(heal); this.changed(); }

  private changed(): void {
    this.dirty = true;
    this.timer ??= setTimeout(() => { this.timer = undefined; void this.flush(); }, this.opts.writeDelayMs ?? 20);
  }

  async flush(): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    while (this.writing) await this.writing;
    if (!this.dirty) return;
    this.dirty = false;
    this.prune();
    const started = performance.now();
    this.writing = this.db.write().then(
      () => { this.opts.metrics?.storeWriteSeconds.observe((performance.now() - started) / 1000); },
      (e) => {
        this.dirty = true;
        this.opts.metrics?.storeWriteErrors.inc();
        this.opts.log.error({ file: this.file, err: errorMessage(e) }, 'store write failed; will retry — check disk space and permissions of the data dir');
        this.timer ??= setTimeout(() => { this.timer = undefined; void this.flush(); }, 1000);
      },
    ).finally(() => { this.writing = undefined; });
    await this.writing;
  }

  /** Caps history: keeps every open alert and work order, drops the oldest finished ones. */
  private prune(): void {
    const max = this.opts.maxHistory ?? 10_000;
    const alerts = Object.values(this.db.data.alerts).filter((a) => a.state === 'resolved');
    if (alerts.length > max) {
      alerts.sort((a, b) => (a.endsAt ?? '').localeCompare(b.endsAt ?? ''));
      for (const a of alerts.slice(0, alerts.length - max)) delete this.db.data.alerts[a.id];
    }
    const heals = Object.values(this.db.data.heals).filter((h) => h.finishedAt);
    if (heals.length > max) {
      heals.sort((a, b) => (a.finishedAt ?? '').localeCompare(b.finishedAt ?? ''));
      for (const h of heals.slice(0, heals.length - max)) delete this.db.data.heals[h.id];
    }
  }

  async close(): Promise<void> {
    await this.flush();
    this.unlock();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const clone = <T>(v: T): T => structuredClone(v);
const cloneOpt = <T>(v: T | undefined): T | undefined => (v === undefined ? undefined : clone(v));

