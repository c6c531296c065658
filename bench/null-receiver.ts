/**
 * A remote-write receiver that stores nothing, for bench/remote-write.ts --receiver null: it
 * reads each request's body, snappy-decompresses it (the least a receiver does) and answers 204,
 * so what the sender pushes is bound by laas, not by a database. Run as a child process (its own
 * event loop, as a real receiver would be); it tells the parent its port and, asked, its counts.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import snappy from 'snappyjs';

let requests = 0;
let bytes = 0;
let rawBytes = 0;
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    requests++;
    bytes += body.byteLength;
    rawBytes += snappy.uncompress(body).byteLength;
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
process.on('message', (m) => {
  if (m === 'stats') process.send!({ requests, bytes, rawBytes });
});
// The parent's end is this one's end: no receiver left behind if the bench dies.
process.on('disconnect', () => process.exit(0));
