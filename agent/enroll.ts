import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname } from 'node:path';
import { LaasError, errorMessage, isPlainObject, publicKeyFromPem, type Logger } from '../protocol/index.js';
import type { AgentConfig } from './config.js';

export interface Credentials {
  /** The bearer token for the link: this agent's own credential, or the shared token. */
  token: string;
  /** The controller's signing key to pin (PEM): from agent.json, else from enrollment. */
  signingKey?: string;
}

interface CredentialFile {
  agentId: string;
  credential: string;
  signingKey: string;
  controller: string;
  enrolledAt: string;
}

/**
 * Works out how this agent authenticates: its credential file if it enrolled before; else it
 * enrolls now with its one-time token and keeps the credential (mode 0600); else the shared
 * token. The enrollment token is never logged. A key pinned in agent.json wins over the one
 * enrollment gave (that is how a rotated key is pinned again).
 */
export async function credentials(config: AgentConfig, log: Logger): Promise<Credentials> {
  const file = config.credentialFile;
  const pin = (enrolledKey: string | undefined): string | undefined => {
    if (config.signingKey && enrolledKey && !sameKey(config.signingKey, enrolledKey)) {
      log.warn({ file }, 'the signing key in agent.json differs from the one enrollment pinned; the one in agent.json is used');
    }
    return config.signingKey ?? enrolledKey;
  };
  if (existsSync(file)) {
    let saved: CredentialFile;
    try {
      saved = JSON.parse(readFileSync(file, 'utf8')) as CredentialFile;
    } catch (e) {
      throw new LaasError('CONFIG_READ_FAILED', `cannot read the credential file: ${errorMessage(e)}; delete it to enroll again`, file);
    }
    if (!isPlainObject(saved) || typeof saved.credential !== 'string' || !saved.credential) {
      throw new LaasError('CONFIG_INVALID', 'the credential file has no "credential"; delete it to enroll again', file);
    }
    if (saved.agentId !== config.id) {
      throw new LaasError(
        'CONFIG_INVALID',
        `the credential belongs to agent "${saved.agentId}", not "${config.id}"; fix "id" or delete the file to enroll again`,
        file,
      );
    }
    if (!config.signingKey && !isSigningKey(saved.signingKey)) {
      throw new LaasError(
        'CONFIG_INVALID',
        'the credential file holds no valid controller signing key ("signingKey"); set "signingKey" in agent.json (laas signing-key prints it), or delete the file to enroll again',
        file,
      );
    }
    return { token: saved.credential, signingKey: pin(isSigningKey(saved.signingKey) ? saved.signingKey : undefined) };
  }
  if (config.enrollToken) {
    const url = new URL('/v1/enroll', config.controller.replace(/^ws/, 'http'));
    log.info({ controller: url.origin, id: config.id }, 'enrolling with the controller');
    const { status, body } = await postJson(url, { token: config.enrollToken, agentId: config.id }, config.ca);
    if (status !== 201) {
      const err = (body as { error?: { code: string; message: string } }).error;
      throw new LaasError(
        'ENROLL_FAILED',
        `the controller refused enrollment (HTTP ${status}${err ? `: ${err.message}` : ''}); ask for a new token: laas agents enroll-token`,
        url.origin,
      );
    }
    const got = body as { credential?: unknown; signingKey?: unknown };
    if (typeof got.credential !== 'string' || !got.credential) {
      throw new LaasError('ENROLL_FAILED', "the controller's enrollment reply has no credential; is it a laas controller of this release?", url.origin);
    }
    // Without the key the agent could not tell the controller's instructions from anyone's.
    if (!isSigningKey(got.signingKey)) {
      throw new LaasError(
        'ENROLL_FAILED',
        "the controller's enrollment reply has no valid signing key, so its instructions could not be checked; nothing was saved. " +
          `Is it a laas controller of this release? Revoke agent "${config.id}" there (laas agents revoke), make a new token and enroll again`,
        url.origin,
      );
    }
    const saved: CredentialFile = {
      agentId: config.id,
      credential: got.credential,
      signingKey: got.signingKey,
      controller: config.controller,
      enrolledAt: new Date().toISOString(),
    };
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(saved, null, 2) + '\n', { mode: 0o600 });
    chmodSync(file, 0o600);
    log.info({ file }, 'enrolled; credential saved (the enrollment token is no longer needed)');
    return { token: got.credential, signingKey: pin(got.signingKey) };
  }
  if (!config.token) throw new LaasError('CONFIG_INVALID', 'no token, no enrollToken and no credential file: the agent cannot authenticate', file);
  return { token: config.token, ...(config.signingKey ? { signingKey: config.signingKey } : {}) };
}

/** An Ed25519 public key in PEM. */
function isSigningKey(pem: unknown): pem is string {
  if (typeof pem !== 'string') return false;
  try {
    publicKeyFromPem(pem);
    return true;
  } catch {
    return false;
  }
}

function sameKey(a: string, b: string): boolean {
  const der = (pem: string) => publicKeyFromPem(pem).export({ type: 'spki', format: 'der' });
  return der(a).equals(der(b));
}

function postJson(url: URL, body: unknown, ca?: string): Promise<{ status: number; body: unknown }> {
  const data = JSON.stringify(body);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }, timeout: 15_000, ...(ca ? { ca } : {}) },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (text.length < 100_000) text += c;
        });
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
          } catch {
            resolve({ status: res.statusCode ?? 0, body: {} });
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('enrollment timed out')));
    req.on('error', (e) => reject(new LaasError('ENROLL_FAILED', `cannot reach the controller to enroll: ${e.message}`, url.origin)));
    req.end(data);
  });
}
