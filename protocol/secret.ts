import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { LaasError } from './errors.js';

/** A secret given inline, or as {env: NAME} or {file: PATH} so it need not sit in the config. */
export const secretSchema = z.union([
  z.string().min(1),
  z.strictObject({ env: z.string().min(1) }),
  z.strictObject({ file: z.string().min(1) }),
]);
export type SecretRef = z.infer<typeof secretSchema>;

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
