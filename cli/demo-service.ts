/**
 * The demo service itself: a tiny HTTP server on 127.0.0.1 that writes its pid file.
 * `node demo-service.js PORT PIDFILE`. No imports beyond Node, so it starts in milliseconds.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [port, pidfile] = [Number(process.argv[2]), process.argv[3]];
const server = createServer((_req, res) => res.end('demo ok\n'));
server.listen(port, '127.0.0.1', () => writeFileSync(pidfile, String(process.pid)));
const bye = () => { try { rmSync(pidfile); } catch { /* gone */ } process.exit(0); };
process.on('SIGTERM', bye);
process.on('SIGINT', bye);
