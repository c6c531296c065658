import { connect, type Socket } from 'node:net';
import type { Held, ProbeResult } from './types.js';

/** Up when a TCP connection to "host:port" (or "[v6]:port") opens within the timeout. */
export function probe(target: string, timeoutMs: number): Promise<ProbeResult> {
  return open(target, timeoutMs);
}

/**
 * Like probe(), but an open connection is kept: when the service's process dies the kernel
 * closes it at once, and `onLost` is called (once) — detection without waiting for the next
 * probe. A close is not itself a fault (services close idle connections): the caller probes
 * again to confirm. Whatever the service sends on it is read and dropped.
 */
export function hold(target: string, timeoutMs: number, onLost: (why: string, heldMs: number) => void): Promise<ProbeResult> {
  return open(target, timeoutMs, onLost);
}

function open(target: string, timeoutMs: number, onLost?: (why: string, heldMs: number) => void): Promise<ProbeResult> {
  const i = target.lastIndexOf(':');
  const host = target.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(target.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    return Promise.resolve({ up: false, detail: `bad target ${JSON.stringify(target)}: expected "host:port"` });
  }
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let connected = false;
    const done = (result: ProbeResult) => {
      clearTimeout(timer);
      if (!result.up || !onLost) socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done({ up: false, detail: `no connection within ${timeoutMs}ms` }), timeoutMs);
    socket.once('connect', () => {
      connected = true;
      done(onLost ? { up: true, held: keep(socket, onLost) } : { up: true });
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      if (!connected) done({ up: false, detail: e.code ?? e.message });
    });
  });
}

function keep(socket: Socket, onLost: (why: string, heldMs: number) => void): Held {
  let released = false;
  const since = performance.now();
  const lost = (why: string) => {
    if (released) return;
    released = true;
    socket.destroy();
    onLost(why, performance.now() - since);
  };
  // A held connection must never keep the agent alive, nor fill up with a banner nobody reads.
  socket.unref();
  socket.resume();
  // Across a network a dead peer sends nothing: keep-alive probes find it (on loopback the kernel says at once).
  socket.setKeepAlive(true, 10_000);
  socket.once('end', () => lost('connection closed by the service'));
  socket.once('close', () => lost('connection closed'));
  socket.on('error', (e: NodeJS.ErrnoException) => lost(`connection failed: ${e.code ?? e.message}`));
  return {
    release() {
      released = true;
      socket.destroy();
    },
  };
}
