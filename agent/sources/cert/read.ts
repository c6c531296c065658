import { X509Certificate } from 'node:crypto';
import { open } from 'node:fs/promises';
import { isIP } from 'node:net';
import { connect, type PeerCertificate } from 'node:tls';
import type { Sample } from '../../../protocol/index.js';
import type { CertConfig } from './config.js';

export type CertFacts = NonNullable<Sample['cert']>[string];

const DAY_MS = 86_400_000;
/** A certificate file (a chain at most) is a few KiB: more is not one, and is not read whole. */
const MAX_FILE_BYTES = 1_048_576;

/** What a certificate says about its expiry, as the `cert` fact carries it. */
export function certFacts(notAfter: number, subject: string | undefined, issuer: string | undefined, now: number, error?: string): CertFacts {
  return {
    daysLeft: Math.round(((notAfter - now) / DAY_MS) * 1000) / 1000,
    notAfter,
    ...(subject !== undefined ? { subject: plain(subject, 500) } : {}),
    ...(issuer !== undefined ? { issuer: plain(issuer, 500) } : {}),
    ...(error !== undefined ? { error: error.slice(0, 500) } : {}),
  };
}

/**
 * The leaf certificate a TLS server presents. A certificate the agent would not trust (expired,
 * self-signed, another host's name) is still read — its expiry is the point — and why it is not
 * trusted goes in `error`.
 */
export async function readServerCert(c: CertConfig & { target: string }, signal: AbortSignal, now: () => number = Date.now): Promise<CertFacts> {
  const i = c.target.lastIndexOf(':');
  const host = c.target.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(c.target.slice(i + 1));
  let ca: Buffer | undefined;
  if (c.ca !== undefined) {
    try {
      ca = await readCapped(c.ca);
    } catch (e) {
      return { error: `cannot read the CA file ${c.ca}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
    }
  }
  // SNI takes a name only: sending an IP address there is refused by Node (and by the RFC).
  const servername = c.servername ?? (isIP(host) === 0 ? host : undefined);
  return new Promise((resolve) => {
    const socket = connect({ host, port, servername, rejectUnauthorized: false, ...(ca ? { ca } : {}) });
    const done = (facts: CertFacts) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(facts);
    };
    const onAbort = () => done({ error: 'stopped' });
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => done({ error: `no TLS handshake within ${c.timeout}ms` }), c.timeout);
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      const notAfter = cert?.valid_to ? Date.parse(cert.valid_to) : NaN;
      if (!Number.isFinite(notAfter)) return done({ error: 'the server presented no certificate' });
      const trust = socket.authorized ? undefined : `certificate not trusted: ${String(socket.authorizationError)}`;
      done(certFacts(notAfter, nameOf(cert.subject), nameOf(cert.issuer), now(), trust));
    });
    socket.once('error', (e: NodeJS.ErrnoException) => done({ error: `TLS connection failed: ${e.code ?? e.message}` }));
  });
}

/** The first certificate in a file (PEM, the leaf of a chain; or DER). */
export async function readFileCert(c: CertConfig & { file: string }, now: () => number = Date.now): Promise<CertFacts> {
  let data: Buffer;
  try {
    data = await readCapped(c.file);
  } catch (e) {
    return { error: `cannot read ${c.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(data);
  } catch {
    return { error: `${c.file} holds no PEM or DER certificate` };
  }
  const notAfter = Date.parse(cert.validTo);
  if (!Number.isFinite(notAfter)) return { error: `${c.file}: unreadable expiry date ${JSON.stringify(cert.validTo)}` };
  return certFacts(notAfter, nameOf(fields(cert.subject)), nameOf(fields(cert.issuer)), now());
}

async function readCapped(path: string): Promise<Buffer> {
  const file = await open(path, 'r');
  try {
    const buf = Buffer.alloc(MAX_FILE_BYTES);
    const { bytesRead } = await file.read(buf, 0, MAX_FILE_BYTES, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

/** X509Certificate's "C=US\nO=Example\nCN=example.com" as fields. */
function fields(dn: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of dn.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && !(line.slice(0, eq) in out)) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** The common name, or (a certificate without one) the whole name as "O=…, C=…". */
function nameOf(dn: PeerCertificate['subject'] | Record<string, string | string[]> | undefined): string | undefined {
  if (dn === undefined || dn === null) return undefined;
  const cn = (dn as Record<string, string | string[]>).CN;
  if (cn !== undefined) return Array.isArray(cn) ? cn.join(', ') : cn;
  const all = Object.entries(dn).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`);
  return all.length > 0 ? all.join(', ') : undefined;
}

/** plainText allows no control characters: a name with one is shown with them as spaces. */
function plain(s: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').slice(0, max);
}
