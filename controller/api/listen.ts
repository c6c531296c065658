import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { LaasError, type Logger } from '../../protocol/index.js';
import type { ControllerConfig } from '../config.js';
import type { Api } from './server.js';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/**
 * Plain http/ws beyond loopback would carry tokens and instructions in the clear; an API with no
 * tokens beyond loopback would make everyone who reaches it admin. Checked before anything starts.
 */
export function checkListenSafety(config: ControllerConfig, log: Logger): void {
  if (LOOPBACK.test(config.listen.host)) return;
  const where = `${config.listen.host}:${config.listen.port}`;
  if (!config.tls && !config.insecure) {
    throw new LaasError(
      'CONFIG_INSECURE_LISTEN',
      `refusing to listen on ${where} without TLS: set "tls": {"cert", "key"} (make them with "laas certs init"), or "insecure": true if something else encrypts the link`,
    );
  }
  if (config.apiTokens.length === 0) {
    throw new LaasError(
      'CONFIG_OPEN_API',
      `refusing to listen on ${where} with no "apiTokens": anyone reaching it would be admin. Add "apiTokens": [{"name": "ops", "token": {"file": "/etc/laas/api-token"}, "role": "admin"}] (the CLI sends it from LAAS_TOKEN), or listen on 127.0.0.1`,
    );
  }
  if (!config.tls)
    log.warn(
      { listen: where },
      'INSECURE: listening beyond loopback without TLS ("insecure": true) — agent tokens, API tokens and instructions cross the network in the clear',
    );
}

/** The HTTP(S) server: the API, and the agent link's WebSocket upgrade on the same port. */
export interface Listening {
  readonly port: number;
  close(): Promise<void>;
}

export async function listen(config: ControllerConfig, api: Api, upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean): Promise<Listening> {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    void api.handle(req, res);
  };
  const server: Server = config.tls
    ? createHttpsServer({ cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) }, handler)
    : createServer(handler);
  server.on('upgrade', (req, socket, head) => {
    if (!upgrade(req, socket, head)) socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A herd of agents reconnecting overflows Node's default accept queue (511): their SYNs are
    // dropped and retried seconds later. The kernel caps this at net.core.somaxconn.
    server.listen({ port: config.listen.port, host: config.listen.host, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
