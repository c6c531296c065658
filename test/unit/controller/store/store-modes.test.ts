import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LowdbStore } from '../../../../controller/store/lowdb.js';
import { silentLogger } from '../../../../protocol/index.js';

const mode = (path: string) => statSync(path).mode & 0o777;

/**
 * The store holds host inventory, work orders and enrollment-credential hashes: none of its
 * files may be readable by other users, whatever the umask of the user who starts laas.
 */
describe('lowdb store file modes', () => {
  let root: string;
  let umask: number;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'laas-modes-'));
    umask = process.umask(0o022); // the usual default: files 0644, folders 0755 unless asked otherwise
  });
  afterEach(() => {
    process.umask(umask);
    rmSync(root, { recursive: true, force: true });
  });

  it('makes the data dir 0700 and the store, journal, lock and backup 0600', async () => {
    const dataDir = join(root, 'data');
    // The file's background rewrite (which drops the journals it holds) waits a minute, so the
    // journal is still there to look at however slow the flush's fsync is.
    const store = await LowdbStore.open({ dataDir, log: silentLogger, journalAboveBytes: 0, writeDelayMs: 60_000 });
    expect(mode(dataDir)).toBe(0o700);
    expect(mode(join(dataDir, 'laas.lock'))).toBe(0o600);
    await store.putState('silences', []);
    await store.flush(); // journals first (journalAboveBytes 0): the write-ahead
    const journals = readdirSync(dataDir).filter((f) => f.startsWith('laas.journal.'));
    expect(journals.length).toBeGreaterThan(0);
    for (const f of journals) expect(mode(join(dataDir, f)), f).toBe(0o600);
    await store.close(); // writes the file and its backup
    expect(mode(join(dataDir, 'laas.json'))).toBe(0o600);
    expect(mode(join(dataDir, 'laas.json.bak'))).toBe(0o600);
  });

  it('a store file left 0644 by an older laas becomes 0600 at its next write', async () => {
    const dataDir = join(root, 'old');
    const first = await LowdbStore.open({ dataDir, log: silentLogger });
    await first.putState('pause', null);
    await first.close();
    for (const f of ['laas.json', '.laas.json.tmp']) {
      // the store, and a temp file a crash left behind
      writeFileSync(join(dataDir, f), '{"version":1,"hosts":{},"alerts":{},"heals":{},"state":{}}');
      chmodSync(join(dataDir, f), 0o644);
    }
    const again = await LowdbStore.open({ dataDir, log: silentLogger });
    await again.putState('pause', { by: 'x' });
    await again.flush();
    expect(mode(join(dataDir, 'laas.json'))).toBe(0o600);
    await again.close();
  });
});
