/**
 * The demo service itself: a tiny HTTP server on 127.0.0.1 that writes its pid file.
 * `node demo-service.js PORT PIDFILE`. No imports beyond Node, so it starts in milliseconds.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [port, pidfile] = [Number(process.argv[2]), process.argv[3]];
// /metrics lets Prometheus scrape it directly (its `up` is the anchor's view of the service).
const server = createServer((req, res) => {
  if (req.url === '/metrics') res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end('# TYPE demo_up gauge\ndemo_up 1\n');
  else res.end('demo ok\n');
});
server.listen(port, '127.0.0.1', () => writeFileSync(pidfile, String(process.pid)));
const bye = () => {
  try {
    rmSync(pidfile);
  } catch {
    /* gone */
  }
  process.exit(0);
};
process.on('SIGTERM', bye);
process.on('SIGINT', bye);
