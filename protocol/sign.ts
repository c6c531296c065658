import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { Run } from './messages.js';

/** JSON with object keys sorted at every level, so both sides sign the same bytes. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** What a signature covers: every field of the instruction, including the host it is for. */
export function runPayload(run: Omit<Run, 'sig'>): Buffer {
  return Buffer.from(canonicalJson({ id: run.id, host: run.host, action: run.action, params: run.params, timeoutMs: run.timeoutMs, deadline: run.deadline }));
}

/** Signs an instruction with the controller's Ed25519 key (base64 signature). */
export function signRun(run: Omit<Run, 'sig'>, key: KeyObject): string {
  return sign(null, runPayload(run), key).toString('base64');
}

export function verifyRun(run: Run, key: KeyObject): boolean {
  if (!run.sig) return false;
  try {
    return verify(null, runPayload(run), key, Buffer.from(run.sig, 'base64'));
  } catch {
    return false;
  }
}

export function publicKeyFromPem(pem: string): KeyObject {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`expected an Ed25519 public key, got ${key.asymmetricKeyType}`);
  return key;
}

export function privateKeyFromPem(pem: string): KeyObject {
  return createPrivateKey(pem);
}
