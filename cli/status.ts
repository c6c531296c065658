/**
 * `laas status`: what is installed on this host and whether its controller answers.
 *
 * Reads /etc/laas/agent.json (or --config; a controller.json works too), shows the controller
 * URL, the agent id and whether the agent has enrolled (its credential file is there), the
 * systemd service state when systemd runs, and asks the controller's /healthz. Exit 0 when the
 * controller answers healthy, 1 when it does not or the config cannot be read.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { errorMessage } from '../protocol/errors.js';
import { printable } from './terminal-safe.js';

export const DEFAULT_AGENT_CONFIG = '/etc/laas/agent.json';
export const DEFAULT_CONTROLLER_CONFIG = '/etc/laas/controller.json';

export interface StatusOptions {
  config?: string;
  json?: boolean;
  timeout?: number;
}

interface Health {
  reachable: boolean;
  url: string;
  ms?: number;
  status?: number;
  version?: string;
  agents?: number;
  rules?: number;
  error?: string;
}

export interface Status {
  kind: 'agent' | 'controller';
  config: string;
  /** "valid", or what is wrong with the config. */
  configCheck: string;
  controller: string;
  agentId?: string;
  enrolled?: { credentialFile: string; at?: string; controller?: string } | false;
  auth?: 'enrollment token' | 'shared token' | 'credential';
  service?: string;
  health: Health;
}

/** Runs the command; returns the exit code. */
export async function runStatus(o: StatusOptions): Promise<number> {
  const file = o.config ?? (existsSync(DEFAULT_AGENT_CONFIG) || !existsSync(DEFAULT_CONTROLLER_CONFIG) ? DEFAULT_AGENT_CONFIG : DEFAULT_CONTROLLER_CONFIG);
  let raw: Record<string, unknown>;
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('expected a JSON object');
    raw = parsed as Record<string, unknown>;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const hint =
      code === 'EACCES'
        ? ' — it is readable by root only: sudo laas status'
        : code === 'ENOENT'
          ? ' — is laas installed here? (install.sh agent …), or give --config FILE'
          : '';
    process.stderr.write(`laas status: cannot read ${file}: ${errorMessage(e)}${hint}\n`);
    return 1;
  }
  const s =
    typeof raw.controller === 'string' || Array.isArray(raw.controller)
      ? await agentStatus(file, raw, o.timeout)
      : await controllerStatus(file, raw, o.timeout);
  if (o.json) process.stdout.write(JSON.stringify(s, null, 2) + '\n');
  else process.stdout.write(render(s));
  return s.health.reachable && s.health.status === 200 ? 0 : 1;
}

async function agentStatus(file: string, raw: Record<string, unknown>, timeout?: number): Promise<Status> {
  const base = dirname(resolve(file));
  const controller = String(Array.isArray(raw.controller) ? raw.controller[0] : raw.controller);
  let configCheck = 'valid';
  try {
    const { loadAgentConfig } = await import('../agent/config.js');
    loadAgentConfig(file);
  } catch (e) {
    configCheck = errorMessage(e);
  }
  const credentialFile = resolve(base, typeof raw.credentialFile === 'string' ? raw.credentialFile : 'credential.json');
  let enrolled: Status['enrolled'] = false;
  if (existsSync(credentialFile)) {
    try {
      const c = JSON.parse(readFileSync(credentialFile, 'utf8')) as { enrolledAt?: string; controller?: string };
      enrolled = { credentialFile, at: c.enrolledAt, controller: c.controller };
    } catch {
      enrolled = { credentialFile };
    }
  }
  const ca = typeof raw.ca === 'string' ? readOptional(resolve(base, raw.ca)) : undefined;
  return {
    kind: 'agent',
    config: resolve(file),
    configCheck,
    controller,
    agentId: typeof raw.id === 'string' ? raw.id : hostname(),
    enrolled,
    auth: enrolled ? 'credential' : raw.enrollToken !== undefined ? 'enrollment token' : 'shared token',
    service: serviceState('laas-agent'),
    health: await health(new URL('/healthz', controller.replace(/^ws/, 'http')), ca, timeout),
  };
}

async function controllerStatus(file: string, raw: Record<string, unknown>, timeout?: number): Promise<Status> {
  const base = dirname(resolve(file));
  let configCheck = 'valid';
  try {
    const { loadControllerConfig } = await import('../controller/config.js');
    loadControllerConfig(file);
  } catch (e) {
    configCheck = errorMessage(e);
  }
  const listen = typeof raw.listen === 'string' ? raw.listen : '127.0.0.1:7070';
  const i = listen.lastIndexOf(':');
  let host = listen.slice(0, i);
  if (host === '0.0.0.0' || host === '*' || host === '') host = '127.0.0.1';
  if (host === '[::]' || host === '::') host = '[::1]';
  const tls = raw.tls as { cert?: string } | undefined;
  // Ask over loopback; the CA beside the certificate (laas certs init's layout) verifies it.
  const ca = tls?.cert ? readOptional(join(dirname(resolve(base, tls.cert)), 'ca.pem')) : undefined;
  const url = new URL(`${tls ? 'https' : 'http'}://${host}:${listen.slice(i + 1)}/healthz`);
  return {
    kind: 'controller',
    config: resolve(file),
    configCheck,
    controller: url.origin,
    service: serviceState('laas-controller'),
    health: await health(url, ca, timeout, tls !== undefined && ca === undefined),
  };
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The unit's state when systemd runs this host; undefined elsewhere. */
function serviceState(unit: string): string | undefined {
  if (!existsSync('/run/systemd/system')) return undefined;
  try {
    return execFileSync('systemctl', ['is-active', `${unit}.service`], { encoding: 'utf8', timeout: 3000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch (e) {
    const out = (e as { stdout?: string }).stdout?.trim();
    return out || 'unknown';
  }
}

function health(url: URL, ca: string | undefined, timeout = 5000, insecure = false): Promise<Health> {
  const started = Date.now();
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  // 127.0.0.1 is rarely in a certificate; ask with the name it is issued for.
  const servername = url.hostname === '127.0.0.1' || url.hostname === '[::1]' ? 'localhost' : undefined;
  return new Promise((done) => {
    // A controller with "metrics": {"requireToken": true} answers /healthz only to a token.
    const token = process.env.LAAS_TOKEN;
    const req = request(
      url,
      {
        method: 'GET',
        timeout,
        ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
        ...(ca ? { ca } : {}),
        ...(servername ? { servername } : {}),
        ...(insecure ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (text.length < 10_000) text += c;
        });
        res.on('end', () => {
          let body: { version?: string; agents?: number; rules?: number } = {};
          try {
            body = JSON.parse(text) as typeof body;
          } catch {
            /* not JSON: status says enough */
          }
          done({
            reachable: true,
            url: url.href,
            ms: Date.now() - started,
            status: res.statusCode,
            version: body.version,
            agents: body.agents,
            rules: body.rules,
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeout} ms`)));
    req.on('error', (e) => done({ reachable: false, url: url.href, error: e.message }));
    req.end();
  });
}

function render(s: Status): string {
  const rows: [string, string][] = [
    ['config', `${s.config}${s.configCheck === 'valid' ? ' (valid)' : ` — INVALID: ${s.configCheck}`}`],
    ['controller', s.controller],
  ];
  if (s.kind === 'agent') {
    rows.push(['agent id', s.agentId ?? '-']);
    if (s.enrolled) {
      const other = s.enrolled.controller && s.enrolled.controller !== s.controller ? ` (enrolled with ${s.enrolled.controller}, not this controller)` : '';
      rows.push(['enrolled', `yes${s.enrolled.at ? `, ${s.enrolled.at}` : ''} — ${s.enrolled.credentialFile}${other}`]);
    } else {
      rows.push(['enrolled', s.auth === 'enrollment token' ? 'not yet: it enrolls with its token when it first connects' : 'no: it uses a shared token']);
    }
  }
  if (s.service !== undefined) rows.push(['service', `laas-${s.kind}: ${s.service}`]);
  const h = s.health;
  rows.push([
    'health',
    h.reachable
      ? h.status === 401
        ? `HTTP 401 — the controller answers /healthz only with a token ("metrics": {"requireToken": true}): set LAAS_TOKEN (${h.url})`
        : `${h.status === 200 ? 'ok' : `HTTP ${h.status}`} — laas ${h.version ?? '?'}, ${h.agents ?? '?'} agent(s) connected, ${h.rules ?? '?'} rule(s) (${h.url}, ${h.ms} ms)`
      : `UNREACHABLE: ${h.error} (${h.url}) — is the controller running, and is this the right address?`,
  ]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  // The version and errors come from the network, the rest from files others may write.
  return rows.map(([k, v]) => `${k.padEnd(width)}${printable(v)}`).join('\n') + '\n';
}
