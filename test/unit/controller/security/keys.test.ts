import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClusterSecret, isSealed, type Sealed } from '../../../../controller/security/cluster-secret.js';
import { loadOrCreateSigningKey, sharedSigningKey, type SharedKeyStore, type SigningKey } from '../../../../controller/security/keys.js';
import { createLogger, silentLogger } from '../../../../protocol/index.js';

const SECRET = new ClusterSecret('cluster-secret-for-tests-0123456789abcdef');
const KEY = 'signing-key';

/** An instruction signed with the key checks out against its public key (what an agent pins). */
function signsFor(key: SigningKey, pinned: string): boolean {
  const msg = Buffer.from('{"action":"service.restart"}');
  return verify(null, msg, pinned, sign(null, msg, key.privateKey));
}

describe('the signing key in the data dir', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'laas-keys-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is made on first start with mode 0600, and the same key is used on every later start', () => {
    const first = loadOrCreateSigningKey(dir);
    const file = join(dir, 'signing-key.pem');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(first.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const again = loadOrCreateSigningKey(dir);
    expect(again.publicKeyPem).toBe(first.publicKeyPem);
    // Agents that pinned the first start's key accept what the restarted controller signs.
    expect(signsFor(again, first.publicKeyPem)).toBe(true);
  });

  it('is made private again when found readable by others (e.g. restored from a backup)', () => {
    const first = loadOrCreateSigningKey(dir);
    const file = join(dir, 'signing-key.pem');
    chmodSync(file, 0o644);
    expect(loadOrCreateSigningKey(dir).publicKeyPem).toBe(first.publicKeyPem);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('is its own per data dir', () => {
    const other = mkdtempSync(join(tmpdir(), 'laas-keys-'));
    try {
      expect(loadOrCreateSigningKey(other).publicKeyPem).not.toBe(loadOrCreateSigningKey(dir).publicKeyPem);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

/** The PostgreSQL store's state operations, in memory; `race` runs before a replace (another controller's write). */
class FakeDb implements SharedKeyStore {
  readonly state = new Map<string, unknown>();
  vacuums = 0;
  race?: () => void;
  async putStateIfAbsent(key: string, value: unknown) {
    if (!this.state.has(key)) this.state.set(key, structuredClone(value));
    return structuredClone(this.state.get(key));
  }
  async replaceStateIf(key: string, expected: unknown, next: unknown) {
    this.race?.();
    if (JSON.stringify(this.state.get(key)) !== JSON.stringify(expected)) return false;
    this.state.set(key, structuredClone(next));
    return true;
  }
  async getState(key: string) {
    return structuredClone(this.state.get(key));
  }
  async vacuumState() {
    this.vacuums++;
  }
}

describe('the signing key shared through the database', () => {
  let db: FakeDb;
  let lines: string[];
  const log = () => createLogger('test', 'debug', (l) => lines.push(l));

  beforeEach(() => {
    db = new FakeDb();
    lines = [];
  });

  it('is made by the first controller, kept sealed (no key in the clear), and adopted by the next', async () => {
    const first = await sharedSigningKey(db, KEY, SECRET, silentLogger);
    const stored = db.state.get(KEY);
    expect(isSealed(stored)).toBe(true);
    expect(JSON.stringify(stored)).not.toMatch(/PRIVATE KEY/);
    const second = await sharedSigningKey(db, KEY, new ClusterSecret('cluster-secret-for-tests-0123456789abcdef'), silentLogger);
    expect(second.publicKeyPem).toBe(first.publicKeyPem);
    expect(signsFor(second, first.publicKeyPem)).toBe(true);
    expect(db.state.get(KEY)).toEqual(stored);
  });

  it('opens only with the same cluster secret: another one is refused with a clear error, and the record stays', async () => {
    await sharedSigningKey(db, KEY, SECRET, silentLogger);
    const stored = structuredClone(db.state.get(KEY));
    const err = await sharedSigningKey(db, KEY, new ClusterSecret('another-secret-0123456789abcdef-xyz'), silentLogger).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'LaasError', code: 'CLUSTER_SECRET_MISMATCH' });
    expect((err as Error).message).toContain("the instruction-signing key in the database cannot be opened with this controller's cluster.secret");
    expect(db.state.get(KEY)).toEqual(stored);
  });

  it('refuses a sealed record that was altered, whichever part was changed', async () => {
    await sharedSigningKey(db, KEY, SECRET, silentLogger);
    const good = db.state.get(KEY) as Sealed;
    const flip = (b64: string) => {
      const b = Buffer.from(b64, 'base64');
      b[0] ^= 1;
      return b.toString('base64');
    };
    for (const field of ['data', 'tag', 'iv', 'salt'] as const) {
      db.state.set(KEY, { ...good, [field]: flip(good[field]) });
      await expect(sharedSigningKey(db, KEY, SECRET, silentLogger), field).rejects.toMatchObject({
        code: 'CLUSTER_SECRET_MISMATCH',
        message: expect.stringContaining('(or altered)'),
      });
    }
  });

  it('refuses a record that is neither a sealed key nor a PEM, saying how to recover', async () => {
    for (const bad of [42, { sealed: 1, data: 'x' }, null]) {
      db.state.set(KEY, bad);
      await expect(sharedSigningKey(db, KEY, SECRET, silentLogger)).rejects.toMatchObject({
        code: 'CLUSTER_SECRET_MISMATCH',
        message: expect.stringMatching(/neither a sealed key nor a PEM; restore it from a backup, or delete it to make a new key/),
      });
    }
  });

  it('refuses a text record that is not a PEM with the same clear error, and leaves it as it was', async () => {
    db.state.set(KEY, 'not a key at all');
    const err = await sharedSigningKey(db, KEY, SECRET, log()).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'LaasError', code: 'CLUSTER_SECRET_MISMATCH', message: expect.stringContaining('neither a sealed key nor a PEM') });
    expect(db.state.get(KEY)).toBe('not a key at all');
    expect(lines.join('')).not.toContain('it is now sealed');
  });

  it('seals a plain key an older laas left, keeping that key, and drops the plain copy', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    db.state.set(KEY, pem);
    const key = await sharedSigningKey(db, KEY, SECRET, log());
    expect(key.publicKeyPem).toBe(publicKey.export({ type: 'spki', format: 'pem' }));
    expect(isSealed(db.state.get(KEY))).toBe(true);
    expect(SECRET.open(db.state.get(KEY) as Sealed, 'test')).toBe(pem);
    expect(db.vacuums).toBe(1);
    expect(lines.join('')).toContain('it is now sealed with the cluster secret and the plain copy removed');
  });

  it('adopts the sealed key when another controller sealed the plain one first', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    db.state.set(KEY, pem);
    const theirs = SECRET.seal(pem);
    db.race = () => {
      db.state.set(KEY, theirs);
    };
    const key = await sharedSigningKey(db, KEY, SECRET, silentLogger);
    expect(db.state.get(KEY)).toEqual(theirs);
    expect(db.vacuums).toBe(0);
    expect(signsFor(key, (await sharedSigningKey(db, KEY, SECRET, silentLogger)).publicKeyPem)).toBe(true);
  });

  it('does not fail when the database cannot vacuum (best effort)', async () => {
    db.state.set(KEY, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
    db.vacuumState = async () => {
      throw new Error('permission denied');
    };
    await expect(sharedSigningKey(db, KEY, SECRET, silentLogger)).resolves.toMatchObject({ publicKeyPem: expect.stringMatching(/PUBLIC KEY/) });
    expect(isSealed(db.state.get(KEY))).toBe(true);
  });
});
