import { LaasError, errorMessage, publicKeyFromPem, resolveSecret, type SecretRef } from '../protocol/index.js';

/** The agent.json fields that hold secrets (or, for the keys, values given like secrets). */
export interface SecretFields {
  token?: SecretRef;
  enrollToken?: SecretRef;
  signingKey?: SecretRef;
  controllerKey?: SecretRef;
}

/** The environment variables this config's secrets are read from ({"env": NAME}). */
export function secretEnvNames(c: SecretFields): string[] {
  return [c.token, c.enrollToken, c.signingKey, c.controllerKey].flatMap((s) => (s !== undefined && typeof s === 'object' && 'env' in s ? [s.env] : []));
}

/**
 * The pinned signing key from `signingKey` or its older name `controllerKey`: PEM of an Ed25519
 * public key. Both given and different is an error: which one was meant cannot be guessed.
 */
export function pinnedKey(c: SecretFields, where: string): string | undefined {
  const read = (field: 'signingKey' | 'controllerKey') => {
    const ref = c[field];
    if (ref === undefined) return undefined;
    const pem = resolveSecret(ref, `${where} /${field}`);
    try {
      return { pem, der: publicKeyFromPem(pem).export({ type: 'spki', format: 'der' }) };
    } catch (e) {
      throw new LaasError(
        'CONFIG_INVALID',
        `expected the controller's Ed25519 public key in PEM ("-----BEGIN PUBLIC KEY-----", from laas signing-key): ${errorMessage(e)}`,
        `${where} /${field}`,
      );
    }
  };
  const key = read('signingKey');
  const alias = read('controllerKey');
  if (key && alias && !key.der.equals(alias.der)) {
    throw new LaasError(
      'CONFIG_INVALID',
      '"signingKey" and its older name "controllerKey" name different keys; keep only "signingKey"',
      `${where} /controllerKey`,
    );
  }
  return (key ?? alias)?.pem;
}
