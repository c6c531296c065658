import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { privateKeyFromPem } from '../../protocol/index.js';

export interface SigningKey {
  privateKey: KeyObject;
  publicKeyPem: string;
}

/**
 * The controller's Ed25519 instruction-signing key: made on first start, kept in the data dir
 * with mode 0600. Agents pin its public key (from their config or at enrollment).
 */
/**
 * Controllers sharing a database sign with one key, kept in the database, so an agent may be
 * sent instructions by whichever controller holds its link. The first controller's key (or the
 * one `laas store migrate` copied from a data dir) wins; later ones adopt it.
 */
export async function sharedSigningKey(putIfAbsent: (pem: string) => Promise<string>): Promise<SigningKey> {
  const { privateKey: mine } = generateKeyPairSync('ed25519');
  const pem = await putIfAbsent(mine.export({ type: 'pkcs8', format: 'pem' }) as string);
  const privateKey = privateKeyFromPem(pem);
  return { privateKey, publicKeyPem: createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string };
}

export function loadOrCreateSigningKey(dataDir: string): SigningKey {
  const file = join(dataDir, 'signing-key.pem');
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
  }
  chmodSync(file, 0o600);
  const privateKey = privateKeyFromPem(readFileSync(file, 'utf8'));
  return { privateKey, publicKeyPem: createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string };
}
