import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

export interface CertsResult {
  dir: string;
  files: { ca: string; caKey: string; cert: string; key: string };
}

/**
 * `laas certs init`: a small CA and a controller certificate signed by it, for TLS on the agent
 * link and the API. Keys come from Node's crypto; node-forge writes the X.509 certificates (Node
 * can read certificates but not make them). Agents pin ca.pem.
 */
export function initCerts(dir: string, hosts: readonly string[], opts: { days?: number; force?: boolean } = {}): CertsResult {
  const files = { ca: join(dir, 'ca.pem'), caKey: join(dir, 'ca-key.pem'), cert: join(dir, 'controller.pem'), key: join(dir, 'controller-key.pem') };
  if (!opts.force) {
    const there = Object.values(files).filter((f) => existsSync(f));
    if (there.length) throw new Error(`${there.join(', ')} already exist; use --force to replace them (agents pinning the old CA will refuse the new one)`);
  }
  mkdirSync(dir, { recursive: true });
  const days = opts.days ?? 825;
  const caKeys = rsaKeys();
  const ca = certificate(
    caKeys.publicKey,
    [
      { name: 'commonName', value: 'laas CA' },
      { name: 'organizationName', value: 'laas' },
    ],
    3650,
  );
  ca.setIssuer(ca.subject.attributes);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());

  const keys = rsaKeys();
  const cert = certificate(
    keys.publicKey,
    [
      { name: 'commonName', value: hosts[0] ?? 'laas-controller' },
      { name: 'organizationName', value: 'laas' },
    ],
    days,
  );
  cert.setIssuer(ca.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })) },
  ]);
  cert.sign(caKeys.privateKey, forge.md.sha256.create());

  writeFileSync(files.ca, forge.pki.certificateToPem(ca));
  writeFileSync(files.caKey, forge.pki.privateKeyToPem(caKeys.privateKey), { mode: 0o600 });
  writeFileSync(files.cert, forge.pki.certificateToPem(cert) + forge.pki.certificateToPem(ca));
  writeFileSync(files.key, forge.pki.privateKeyToPem(keys.privateKey), { mode: 0o600 });
  return { dir, files };
}

function rsaKeys(): forge.pki.rsa.KeyPair {
  // Node generates the key (fast, native); forge only needs it in its own form to sign.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const priv = forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }) as string);
  return { privateKey: priv, publicKey: forge.pki.setRsaPublicKey(priv.n, priv.e) };
}

function certificate(publicKey: forge.pki.PublicKey, subject: forge.pki.CertificateField[], days: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = '01' + randomBytes(15).toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + days * 86_400_000);
  cert.setSubject(subject);
  return cert;
}
