import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { LaasError } from '../../protocol/index.js';

/** A value sealed with the cluster secret, as it sits in the database (JSON). */
export interface Sealed {
  sealed: 1;
  alg: 'aes-256-gcm';
  kdf: 'hkdf-sha256';
  salt: string;
  iv: string;
  tag: string;
  data: string;
}

const SEAL_INFO = 'laas signing key v1';
const MAC_INFO = 'laas cluster messages v1';

/**
 * The secret controllers sharing a database have and the database does not: each use gets its
 * own key derived from it (HKDF), one to authenticate their messages, one per sealed value.
 */
export class ClusterSecret {
  private readonly macKey: Buffer;

  constructor(private readonly secret: string) {
    this.macKey = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), MAC_INFO, 32));
  }

  mac(text: string): string {
    return createHmac('sha256', this.macKey).update(text).digest('base64url');
  }

  verify(text: string, mac: string): boolean {
    const want = Buffer.from(this.mac(text));
    const got = Buffer.from(mac);
    return want.length === got.length && timingSafeEqual(want, got);
  }

  seal(plain: string): Sealed {
    const salt = randomBytes(16);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.sealKey(salt), iv);
    cipher.setAAD(Buffer.from(SEAL_INFO));
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return {
      sealed: 1,
      alg: 'aes-256-gcm',
      kdf: 'hkdf-sha256',
      salt: salt.toString('base64'),
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      data: data.toString('base64'),
    };
  }

  /** The plain value; CLUSTER_SECRET_MISMATCH when it was sealed with another secret (or altered). */
  open(s: Sealed, what: string): string {
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.sealKey(Buffer.from(s.salt, 'base64')), Buffer.from(s.iv, 'base64'));
      decipher.setAAD(Buffer.from(SEAL_INFO));
      decipher.setAuthTag(Buffer.from(s.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(s.data, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new LaasError(
        'CLUSTER_SECRET_MISMATCH',
        `${what} in the database cannot be opened with this controller's cluster.secret: it was sealed with another secret (or altered). Give every controller sharing the database the same "cluster": {"secret": …}`,
      );
    }
  }

  private sealKey(salt: Buffer): Buffer {
    return Buffer.from(hkdfSync('sha256', this.secret, salt, SEAL_INFO, 32));
  }
}

export function isSealed(v: unknown): v is Sealed {
  const s = v as Partial<Sealed> | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    s.sealed === 1 &&
    typeof s.salt === 'string' &&
    typeof s.iv === 'string' &&
    typeof s.tag === 'string' &&
    typeof s.data === 'string'
  );
}
