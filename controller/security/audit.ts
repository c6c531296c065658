import { appendFileSync, existsSync, readFileSync, statSync, renameSync } from 'node:fs';
import { join } from 'node:path';

export interface AuditEntry {
  at: string;
  /** The API token's name, "anonymous" when the API has no tokens, an agent id, or "system". */
  who: string;
  role: string;
  from: string;
  action: string;
  target: string;
  result: 'ok' | 'denied' | 'failed';
  status?: number;
  detail?: string;
}

/**
 * The audit log: one JSON line per change or refused attempt, appended to data/audit.log
 * (never rewritten; rotated to audit.log.1 past 10 MB). Read the tail from the API or CLI.
 */
export class AuditLog {
  readonly file: string;

  constructor(dataDir: string, private readonly maxBytes = 10 * 1024 * 1024) {
    this.file = join(dataDir, 'audit.log');
  }

  add(entry: Omit<AuditEntry, 'at'> & { at?: string }): void {
    const line = JSON.stringify({ at: entry.at ?? new Date().toISOString(), ...entry }) + '\n';
    if (existsSync(this.file) && statSync(this.file).size > this.maxBytes) renameSync(this.file, `${this.file}.1`);
    appendFileSync(this.file, line, { mode: 0o600 });
  }

  tail(limit = 100): AuditEntry[] {
    if (!existsSync(this.file)) return [];
    const lines = readFileSync(this.file, 'utf8').trimEnd().split('\n').filter(Boolean);
    return lines.slice(-limit).reverse().map((l) => JSON.parse(l) as AuditEntry);
  }
}
