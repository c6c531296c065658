import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import forge from 'node-forge';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../../../agent/config.js';
import { readFileCert, readServerCert } from '../../../../agent/sources/cert/read.js';

const DAY = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), 'laas-cert-'));
const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

function keys(): forge.pki.rsa.KeyPair {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const priv = forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }) as string);
  return { privateKey: priv, publicKey: forge.pki.setRsaPublicKey(priv.n, priv.e) };
}

/** A certificate for 127.0.0.1 valid from `from` to `to` (ms from now), signed by `issuer` (itself when absent). */
function cert(cn: string, from: number, to: number, issuer?: { cert: forge.pki.Certificate; keys: forge.pki.rsa.KeyPair }, isCa = false) {
  const k = keys();
  const c = forge.pki.createCertificate();
  c.publicKey = k.publicKey;
  c.serialNumber = String(Math.floor(Math.random() * 1e9));
  c.validity.notBefore = new Date(Date.now() + from);
  c.validity.notAfter = new Date(Date.now() + to);
  c.setSubject([{ name: 'commonName', value: cn }]);
  c.setIssuer(issuer ? issuer.cert.subject.attributes : [{ name: 'commonName', value: cn }]);
  c.setExtensions(isCa ? [{ name: 'basicConstraints', cA: true }] : [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }]);
  c.sign((issuer?.keys ?? k).privateKey, forge.md.sha256.create());
  return { cert: c, keys: k, pem: forge.pki.certificateToPem(c), key: forge.pki.privateKeyToPem(k.privateKey) };
}

async function serve(pem: string, key: string): Promise<string> {
  const s = createServer({ cert: pem, key }, (socket) => socket.end());
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(s.address() as AddressInfo).port}`;
}

const ca = cert('Test CA', -DAY, 30 * DAY, undefined, true);
const caFile = join(dir, 'ca.pem');
writeFileSync(caFile, ca.pem);
const entry = (extra: Record<string, unknown>) =>
  parseAgentConfig({ controller: 'ws://127.0.0.1:1', token: 't', certs: [{ name: 'site', ...extra }] }, 'agent.json').sources.certs[0];
const never = new AbortController().signal;

describe('cert source: a real TLS server', () => {
  it('reads a trusted certificate valid two more days: daysLeft about 2, no error', async () => {
    const leaf = cert('site.test', -DAY, 2 * DAY, ca);
    const target = await serve(leaf.pem, leaf.key);
    const f = await readServerCert({ ...entry({ target, ca: caFile }), target }, never);
    expect(f.error).toBeUndefined();
    expect(f.daysLeft).toBeGreaterThan(1.99);
    expect(f.daysLeft).toBeLessThanOrEqual(2);
    expect(f).toMatchObject({ subject: 'site.test', issuer: 'Test CA' });
    expect(f.notAfter).toBe(Math.floor(leaf.cert.validity.notAfter.getTime() / 1000) * 1000);
  });

  it('reads an expired certificate: negative daysLeft, and the reason it is not trusted', async () => {
    const leaf = cert('old.test', -10 * DAY, -DAY, ca);
    const target = await serve(leaf.pem, leaf.key);
    const f = await readServerCert({ ...entry({ target, ca: caFile }), target }, never);
    expect(f.daysLeft).toBeLessThan(-0.99);
    expect(f.error).toBe('certificate not trusted: CERT_HAS_EXPIRED');
  });

  it('reads a self-signed certificate: error set, daysLeft still read', async () => {
    const self = cert('self.test', -DAY, 30 * DAY);
    const target = await serve(self.pem, self.key);
    const f = await readServerCert({ ...entry({ target }), target }, never);
    expect(f.daysLeft).toBeGreaterThan(29.9);
    expect(f.error).toMatch(/^certificate not trusted: (DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)$/);
  });

  it('says why when nothing answers', async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const target = `127.0.0.1:${(s.address() as AddressInfo).port}`;
    await new Promise((r) => s.close(r));
    expect(await readServerCert({ ...entry({ target }), target }, never)).toEqual({ error: 'TLS connection failed: ECONNREFUSED' });
  });
});

describe('cert source: a file', () => {
  it('reads the leaf of a PEM file, and names a missing or wrong file', async () => {
    const leaf = cert('app.test', -DAY, 10 * DAY, ca);
    const file = join(dir, 'app.pem');
    writeFileSync(file, leaf.pem + ca.pem);
    const f = await readFileCert({ ...entry({ file }), file });
    expect(f).toMatchObject({ subject: 'app.test', issuer: 'Test CA' });
    expect(f.daysLeft).toBeGreaterThan(9.99);
    const missing = join(dir, 'none.pem');
    expect(await readFileCert({ ...entry({ file: missing }), file: missing })).toEqual({ error: `cannot read ${missing}: ENOENT` });
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'not a certificate');
    expect(await readFileCert({ ...entry({ file: junk }), file: junk })).toEqual({ error: `${junk} holds no PEM or DER certificate` });
  });

  it.each([
    [{}, 'expected exactly one of "target" (host:port) and "file"'],
    [{ target: 'a:1', file: '/x.pem' }, 'expected exactly one of "target"'],
    [{ file: 'rel.pem' }, '/certs/0/file: expected an absolute path'],
    [{ file: '/x.pem', servername: 'a.b' }, '"servername" and "ca" apply to a "target"'],
    [{ target: 'a:1', interval: '1s' }, '/certs/0/interval: must be at least 10s'],
  ])('refuses %j', (extra, message) => {
    expect(() => entry(extra)).toThrow(message);
  });
});
