import type { Agent, ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Held } from './types.js';

export type OnLost = (why: string, heldMs: number) => void;

/**
 * Keeps the connection an http probe's answer came on (an HTTP/1.1 keep-alive connection of the
 * probe's own one-socket agent) once the answer is read to its end: when the server's process
 * dies the kernel closes it, and `onLost` is called once. A close is not itself a fault — servers
 * close idle connections (Node after 5 s, nginx after 75 s) — so the caller probes again, and that
 * probe's connection is held in turn. Returns why nothing is held when the server will not keep
 * the connection: it said "Connection: close", the body is longer than `maxBody`, or it closed
 * (Node's client, too, drops a connection the server keeps idle 1 s or less: reuse would race it).
 */
export function keep(res: IncomingMessage, socket: Socket, maxBody: number, signal: AbortSignal, onLost: OnLost): Promise<Held | string> {
  const agent = (res as IncomingMessage & { req: ClientRequest & { agent?: Agent } }).req.agent;
  const connection = String(res.headers.connection ?? '').toLowerCase();
  const closes = connection.split(/\s*,\s*/).includes('close') || (res.httpVersion === '1.0' && !connection.includes('keep-alive'));
  const drop = (why: string) => {
    res.destroy();
    agent?.destroy();
    return why;
  };
  if (closes) return Promise.resolve(drop('the server closes the connection after each answer (no keep-alive)'));
  return new Promise((resolve) => {
    let size = 0;
    const ended = () => {
      signal.removeEventListener('abort', aborted);
      // The agent frees the socket for the next request after 'end'; one turn later it is either
      // in the agent's free list or closed.
      setImmediate(() =>
        resolve(socket.destroyed ? drop('the connection was not kept after the answer (the server closed it, or keeps idle ones 1 s or less)') : watch()),
      );
    };
    const aborted = () => resolve(drop('the answer did not end within the probe timeout'));
    const watch = (): Held => {
      const since = performance.now();
      let released = false;
      socket.once('close', () => {
        if (released) return;
        released = true;
        agent?.destroy();
        onLost('connection closed', performance.now() - since);
      });
      return {
        release() {
          released = true;
          agent?.destroy();
          socket.destroy();
        },
      };
    };
    // Read to its end ('end', not just parsed: only then does the agent free the socket).
    if (res.readableEnded) return ended();
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBody) resolve(drop(`the answer is longer than ${maxBody} bytes: not worth reading to keep the connection`));
    });
    res.once('end', ended);
    res.once('error', () => resolve(drop('the answer failed before its end')));
    signal.addEventListener('abort', aborted, { once: true });
  });
}
