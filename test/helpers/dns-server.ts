import { createSocket, type Socket } from 'node:dgram';

/**
 * A tiny DNS server on a free UDP port of 127.0.0.1 for tests: answers A queries for the names it
 * is given, NXDOMAIN for others, and never answers names in `silent`.
 */
export async function startDnsServer(a: Record<string, string[]>, silent: string[] = []): Promise<{ server: string; close(): Promise<void> }> {
  const socket: Socket = createSocket('udp4');
  socket.on('message', (msg, peer) => {
    if (msg.length < 12) return;
    const labels: string[] = [];
    let i = 12;
    while (i < msg.length && msg[i] !== 0) {
      labels.push(msg.subarray(i + 1, i + 1 + msg[i]).toString('ascii'));
      i += 1 + msg[i];
    }
    const name = labels.join('.').toLowerCase();
    const qtype = msg.readUInt16BE(i + 1);
    const question = msg.subarray(12, i + 5);
    if (silent.includes(name)) return;
    const addrs = qtype === 1 ? (a[name] ?? []) : [];
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0);
    header.writeUInt16BE(0x8180 | (name in a ? 0 : 3), 2); // response, recursion available; rcode 3 = NXDOMAIN
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(addrs.length, 6);
    const answers = addrs.map((ip) => {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0); // the name, pointing at the question's
      rr.writeUInt16BE(1, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(60, 6);
      rr.writeUInt16BE(4, 10);
      ip.split('.').forEach((o, k) => rr.writeUInt8(Number(o), 12 + k));
      return rr;
    });
    socket.send(Buffer.concat([header, question, ...answers]), peer.port, peer.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return {
    server: `127.0.0.1:${socket.address().port}`,
    close: () => new Promise((r) => socket.close(() => r())),
  };
}
