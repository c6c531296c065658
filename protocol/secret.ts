import { readFileSync } from 'node:fs';
import * as v from 'valibot';
import { LaasError } from './errors.js';
import { strictObject } from './schema.js';

/** A secret given inline, or as {env: NAME} or {file: PATH} so it need not sit in the config. */
export type SecretRef = string | { env: string } | { file: string };

const SECRET_EXPECTED = 'expected a non-empty string, {"env": "VAR"} or {"file": "/path"}';

/** The secret forms; any other value gets one message naming all three. */
export const secretSchema = v.union(
  [v.pipe(v.string(), v.minLength(1)), strictObject({ env: v.pipe(v.string(), v.minLength(1)) }), strictObject({ file: v.pipe(v.string(), v.minLength(1)) })],
  SECRET_EXPECTED,
);

export function resolveSecret(ref: SecretRef, where: string): string {
  if (typeof ref === 'string') return ref;
  if ('env' in ref) {
    const v = process.env[ref.env];
    if (!v) throw new LaasError('CONFIG_SECRET_UNRESOLVED', `environment variable ${ref.env} is not set`, where);
    return v;
  }
  try {
    const v = readFileSync(ref.file, 'utf8').trim();
    if (!v) throw new Error('file is empty');
    return v;
  } catch (e) {
    throw new LaasError('CONFIG_SECRET_UNRESOLVED', `cannot read secret file ${ref.file}: ${(e as Error).message}`, where);
  }
}
