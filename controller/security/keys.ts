import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { LaasError, errorMessage, privateKeyFromPem, type Logger } from '../../protocol/index.js';
import { isSealed, type ClusterSecret } from './cluster-secret.js';

export interface SigningKey {
  privateKey: KeyObject;
  publicKeyPem: string;
}

/** The few state operations the shared key needs (the PostgreSQL store has them). */
export interface SharedKeyStore {
  /** Sets the record if there is none; returns the one stored (ours, or the one that won). */
  putStateIfAbsent(key: string, value: unknown): Promise<unknown>;
  /** Replaces the record only while it still holds `expected`; false when someone else changed it first. */
  replaceStateIf(key: string, expected: unknown, next: unknown): Promise<boolean>;
  getState(key: string): Promise<unknown>;
  /** Asks the database to drop dead row versions (the plain key's old copy); best effort. */
  vacuumState(): Promise<void>;
}

/**
 * Controllers sharing a database sign with one key, kept there sealed with the cluster secret
 * (which the database does not have), so whichever controller holds an agent's link signs with
 * the key it pinned, and reading the database does not give the key away. The first
 * controller's key (or the one `laas store migrate` copied) wins; later ones adopt it. A plain
 * key an older laas left there is sealed in place, and the plain copy goes.
 */
export async function sharedSigningKey(db: SharedKeyStore, key: string, secret: ClusterSecret, log: Logger): Promise<SigningKey> {
  const { privateKey: mine } = generateKeyPairSync('ed25519');
  let stored = await db.putStateIfAbsent(key, secret.seal(mine.export({ type: 'pkcs8', format: 'pem' }) as string));
  const unusable = () =>
    new LaasError(
      'CLUSTER_SECRET_MISMATCH',
      `the signing key record "${key}" in the database is neither a sealed key nor a PEM; restore it from a backup, or delete it to make a new key (agents must then pin the new one)`,
    );
  if (typeof stored === 'string') {
    // Only a real key is sealed in place: anything else stays as it was for the operator to look at.
    if (!isPrivateKeyPem(stored)) throw unusable();
    const sealed = secret.seal(stored);
    if (await db.replaceStateIf(key, stored, sealed)) {
      await db.vacuumState().catch((e) => log.debug({ err: errorMessage(e) }, 'VACUUM of laas_state failed; the old row version goes with autovacuum'));
      log.warn(
        { record: key },
        'the instruction-signing key was in the database in plain text (as older laas kept it); it is now sealed with the cluster secret and the plain copy removed. Database backups taken before hold it in the clear: if they may have leaked, make a new key (agents pin it again)',
      );
      stored = sealed;
    } else {
      stored = await db.getState(key);
    }
  }
  if (!isSealed(stored)) throw unusable();
  const privateKey = privateKeyFromPem(secret.open(stored, 'the instruction-signing key'));
  return { privateKey, publicKeyPem: createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string };
}

function isPrivateKeyPem(text: string): boolean {
  try {
    privateKeyFromPem(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * The controller's Ed25519 instruction-signing key: made on first start, kept in the data dir
 * with mode 0600. Agents pin its public key (from their config or at enrollment).
 */
export function loadOrCreateSigningKey(dataDir: string): SigningKey {
  const file = join(dataDir, 'signing-key.pem');
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  chmodSync(file, 0o600);
  const privateKey = privateKeyFromPem(readFileSync(file, 'utf8'));
  return { privateKey, publicKeyPem: createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string };
}
