import * as v from 'valibot';
import { strictObject } from '../../../protocol/index.js';
import { absolutePath, durationMin, namedList, sourceName } from '../section.js';

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^:\s/[\]]+):(\d{1,5})$/;
const hostPort = v.pipe(
  v.string(),
  v.check((s) => {
    const m = HOST_PORT.exec(s);
    return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 65535;
  }, 'expected "host:port" with a port 1-65535, e.g. "example.com:443"'),
);

const KINDS = 'expected exactly one of "target" (host:port) and "file" (a PEM or DER certificate)';

/**
 * `certs` in agent.json: the certificate a TLS server presents (`target`, with an optional SNI
 * `servername` and a `ca` file to verify against instead of the system's roots), or one on disk (`file`).
 */
export const certsConfig = namedList(
  v.pipe(
    strictObject({
      name: sourceName,
      target: v.optional(hostPort),
      servername: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,253}$/, 'expected a DNS name like "example.com"'))),
      ca: v.optional(absolutePath('/etc/ssl/private-ca.pem')),
      file: v.optional(absolutePath('/etc/ssl/certs/app.pem')),
      interval: v.optional(durationMin(10_000), '1h'),
      timeout: v.optional(durationMin(100), '10s'),
    }),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const c = dataset.value;
      if ((c.target === undefined) === (c.file === undefined)) addIssue({ message: KINDS });
      else if (c.file !== undefined && (c.servername !== undefined || c.ca !== undefined)) {
        addIssue({ message: '"servername" and "ca" apply to a "target", not to a "file"' });
      }
    }),
  ),
  200,
);

export type CertConfig = v.InferOutput<typeof certsConfig>[number];
