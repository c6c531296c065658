import { connect } from 'node:net';
import type { ProbeResult } from './index.js';

/** Up when a TCP connection to "host:port" (or "[v6]:port") opens within the timeout. */
export function probe(target: string, timeoutMs: number): Promise<ProbeResult> {
  const i = target.lastIndexOf(':');
  const host = target.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(target.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    return Promise.resolve({ up: false, detail: `bad target ${JSON.stringify(target)}: expected "host:port"` });
  }
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (result: ProbeResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done({ up: false, detail: `no connection within ${timeoutMs}ms` }), timeoutMs);
    socket.once('connect', () => done({ up: true }));
    socket.once('error', (e: NodeJS.ErrnoException) => done({ up: false, detail: e.code ?? e.message }));
  });
}
