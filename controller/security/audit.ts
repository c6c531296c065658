import { appendFileSync, closeSync, existsSync, openSync, readSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface AuditEntry {
  at: string;
  /** The API token's name, "anonymous" when the API has no tokens, an agent id, "system", or "-" (not known). */
  who: string;
  role: string;
  from: string;
  action: string;
  target: string;
  result: 'ok' | 'denied' | 'failed';
  status?: number;
  detail?: string;
  /** Refused before anyone was authenticated: kept in its own, rate-limited file. */
  unauthenticated?: true;
  /** On a record standing for refusals not written one by one: how many. */
  count?: number;
}

export type AuditInput = Omit<AuditEntry, 'at' | 'unauthenticated' | 'count'> & { at?: string; unauthenticated?: boolean };

export interface AuditOptions {
  /** Bytes of audit.log before it rotates (audit.log.1 … .N). */
  maxBytes?: number;
  /** Rotated files kept of audit.log. */
  keep?: number;
  /** The same two for the unauthenticated stream, which is noise as often as not. */
  noiseMaxBytes?: number;
  noiseKeep?: number;
  /** Unauthenticated refusals written one by one, per second on average and at once; the rest are counted. */
  noisePerSecond?: number;
  noiseBurst?: number;
  now?: () => number;
}

/** Field sizes: a request path or message is cut here, so one record cannot be megabytes. */
const CAP = { who: 200, role: 50, from: 100, action: 300, target: 300, detail: 500 } as const;

/**
 * The audit log: one JSON line per change or refused attempt, appended (never rewritten).
 * Two streams, so that noise cannot evict history: `audit.log` holds what an authenticated
 * caller did or was refused, and agent and enrollment events; `audit-unauthenticated.log`
 * holds requests refused before anyone was authenticated (unknown paths, bad or missing
 * tokens, cross-site attempts, refused agent links), written at a bounded rate with the
 * excess counted in a summary record. Each rotates through several files; fields are capped.
 */
export class AuditLog {
  readonly file: string;
  readonly noiseFile: string;
  private readonly o: Required<AuditOptions>;
  private readonly sizes = new Map<string, number>();
  private tokens: number;
  private refilledAt: number;
  private suppressed: { count: number; first: string; last: string; sources: Map<string, number> } | undefined;
  private summaryTimer: NodeJS.Timeout | undefined;

  constructor(dataDir: string, opts: AuditOptions = {}) {
    this.file = join(dataDir, 'audit.log');
    this.noiseFile = join(dataDir, 'audit-unauthenticated.log');
    this.o = {
      maxBytes: 10 * 1024 * 1024,
      keep: 5,
      noiseMaxBytes: 2 * 1024 * 1024,
      noiseKeep: 2,
      noisePerSecond: 2,
      noiseBurst: 50,
      now: () => Date.now(),
      ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
    };
    this.tokens = this.o.noiseBurst;
    this.refilledAt = this.o.now();
  }

  add(input: AuditInput): void {
    const entry = capped(input, this.o.now());
    if (!(input.unauthenticated || input.who === '-')) {
      this.append(this.file, entry, this.o.maxBytes, this.o.keep);
      return;
    }
    entry.unauthenticated = true;
    if (this.take()) {
      this.writeSuppressed();
      this.append(this.noiseFile, entry, this.o.noiseMaxBytes, this.o.noiseKeep);
      return;
    }
    const s = (this.suppressed ??= { count: 0, first: entry.at, last: entry.at, sources: new Map() });
    s.count++;
    s.last = entry.at;
    if (s.sources.size < 100 || s.sources.has(entry.from)) s.sources.set(entry.from, (s.sources.get(entry.from) ?? 0) + 1);
    // Said within a second even if the flood stops now.
    this.summaryTimer ??= setTimeout(() => {
      this.summaryTimer = undefined;
      this.writeSuppressed();
    }, 1000).unref();
  }

  /** The newest entries first, from both streams (or only the authenticated one), across rotated files. */
  tail(limit = 100, opts: { unauthenticated?: boolean } = {}): AuditEntry[] {
    const main = newest(this.file, this.o.keep, limit);
    if (opts.unauthenticated === false) return main;
    const noise = newest(this.noiseFile, this.o.noiseKeep, limit);
    return [...main, ...noise].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0)).slice(0, limit);
  }

  /** Writes the count of refusals not yet accounted for. */
  close(): void {
    clearTimeout(this.summaryTimer);
    this.summaryTimer = undefined;
    this.writeSuppressed();
  }

  private take(): boolean {
    const now = this.o.now();
    this.tokens = Math.min(this.o.noiseBurst, this.tokens + ((now - this.refilledAt) / 1000) * this.o.noisePerSecond);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  private writeSuppressed(): void {
    const s = this.suppressed;
    if (!s) return;
    this.suppressed = undefined;
    const top = [...s.sources]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([from, n]) => `${from} ×${n}`)
      .join(', ');
    const entry = capped(
      {
        who: '-',
        role: '-',
        from: s.sources.size === 1 ? [...s.sources.keys()][0] : '*',
        action: 'unauthenticated refusals not recorded one by one',
        target: '-',
        result: 'denied',
        detail: `${s.count} refusal${s.count === 1 ? '' : 's'} between ${s.first} and ${s.last} over the rate of ${this.o.noisePerSecond}/s; most from ${top}`,
      },
      this.o.now(),
    );
    this.append(this.noiseFile, { ...entry, unauthenticated: true, count: s.count }, this.o.noiseMaxBytes, this.o.noiseKeep);
  }

  private append(file: string, entry: AuditEntry, maxBytes: number, keep: number): void {
    const line = JSON.stringify(entry) + '\n';
    let size = this.sizes.get(file);
    if (size === undefined) size = existsSync(file) ? statSync(file).size : 0;
    if (size > 0 && size + Buffer.byteLength(line) > maxBytes) {
      rotate(file, keep);
      size = 0;
    }
    appendFileSync(file, line, { mode: 0o600 });
    this.sizes.set(file, size + Buffer.byteLength(line));
  }
}

function capped(input: AuditInput, now: number): AuditEntry {
  const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…(${s.length - n} more characters)` : s);
  return {
    at: input.at ?? new Date(now).toISOString(),
    who: cut(input.who, CAP.who),
    role: cut(input.role, CAP.role),
    from: cut(input.from, CAP.from),
    action: cut(input.action, CAP.action),
    target: cut(input.target, CAP.target),
    result: input.result,
    ...(input.status !== undefined ? { status: input.status } : {}),
    ...(input.detail !== undefined ? { detail: cut(input.detail, CAP.detail) } : {}),
  };
}

/** audit.log → audit.log.1 → … → audit.log.<keep>; the oldest falls off. */
function rotate(file: string, keep: number): void {
  for (let i = keep - 1; i >= 1; i--) if (existsSync(`${file}.${i}`)) renameSync(`${file}.${i}`, `${file}.${i + 1}`);
  if (keep >= 1) renameSync(file, `${file}.1`);
}

/** Up to `limit` entries, newest first, reading the file and then its rotations from their ends. */
function newest(file: string, keep: number, limit: number): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (let i = 0; i <= keep && out.length < limit; i++) {
    const path = i === 0 ? file : `${file}.${i}`;
    if (!existsSync(path)) continue;
    for (const line of linesFromEnd(path, limit - out.length)) {
      try {
        out.push(JSON.parse(line) as AuditEntry);
      } catch {
        /* a torn last line: skipped */
      }
    }
  }
  return out;
}

/** The last `max` lines of a file, last first, read backwards in chunks (never the whole file for a short tail). */
function linesFromEnd(path: string, max: number): string[] {
  const fd = openSync(path, 'r');
  try {
    const lines: string[] = [];
    let pos = statSync(path).size;
    let rest = Buffer.alloc(0);
    const chunk = Buffer.alloc(64 * 1024);
    while (pos > 0 && lines.length < max) {
      const n = Math.min(chunk.length, pos);
      pos -= n;
      readSync(fd, chunk, 0, n, pos);
      let buf = Buffer.concat([chunk.subarray(0, n), rest]);
      let nl = buf.lastIndexOf(10);
      while (nl >= 0 && lines.length < max) {
        const line = buf.subarray(nl + 1).toString('utf8');
        if (line) lines.push(line);
        buf = buf.subarray(0, nl);
        nl = buf.lastIndexOf(10);
      }
      rest = buf;
    }
    if (pos === 0 && rest.length && lines.length < max) lines.push(rest.toString('utf8'));
    return lines;
  } finally {
    closeSync(fd);
  }
}
