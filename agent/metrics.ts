import { createServer, type Server } from 'node:http';
import type { Logger, Result, Sample } from '../protocol/index.js';

/** What the endpoint reads from the link: its counters and its state. */
export interface LinkView {
  readonly stats: { readonly connects: number; readonly samplesDropped: number; readonly resultsDropped: number };
  readonly connected: boolean;
  pendingResults(): number;
  /** A property, not a method: the endpoint wraps it to count results, and puts it back at stop. */
  sendResult: (result: Result) => void;
}

export interface AgentMetricsOptions {
  /** "host:port", e.g. "127.0.0.1:9101" (port 0 picks a free one, for tests). */
  listen: string;
  link: LinkView;
  /** The latest facts and service states, read at each scrape (nothing is collected for it). */
  facts: () => Partial<Pick<Sample, 'cpu' | 'memory' | 'disk' | 'net' | 'service'>>;
  log: Logger;
}

export interface AgentMetrics {
  /** The address it listens on (with the real port when 0 was asked for). */
  readonly address: { host: string; port: number };
  stop(): Promise<void>;
}

/**
 * The agent's own /metrics, off by default: its latest facts and its own counters, for an
 * operator who wants to scrape agents directly (the controller's /metrics already has every
 * host's facts). prom-client is imported here, lazily, only when this is switched on — the agent's
 * default path never loads it, since agent RSS matters on every host.
 *
 * Instructions are counted as their results leave through the link (`sendResult`), so refusals
 * count too and a result resent after a reconnect does not count twice.
 */
export async function startAgentMetrics(opts: AgentMetricsOptions): Promise<AgentMetrics> {
  const { Counter, Gauge, Registry, collectDefaultMetrics } = await import('prom-client');
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'laas_agent_' });
  const r = { registers: [registry] };
  const { link } = opts;

  // Facts are copied in at scrape time: a mount or service that went away loses its series.
  const facts = {
    cpuUsage: new Gauge({ name: 'laas_agent_cpu_usage_percent', help: 'CPU busy, percent of all cores', ...r, collect: () => readFacts() }),
    load1: new Gauge({ name: 'laas_agent_cpu_load1', help: 'Load average over 1 minute', ...r }),
    load5: new Gauge({ name: 'laas_agent_cpu_load5', help: 'Load average over 5 minutes', ...r }),
    load15: new Gauge({ name: 'laas_agent_cpu_load15', help: 'Load average over 15 minutes', ...r }),
    memoryUsed: new Gauge({ name: 'laas_agent_memory_used_percent', help: 'Memory in use, percent of total', ...r }),
    memoryAvailable: new Gauge({ name: 'laas_agent_memory_available_bytes', help: 'Memory available to new work', ...r }),
    memoryTotal: new Gauge({ name: 'laas_agent_memory_total_bytes', help: 'Memory installed', ...r }),
    diskUsed: new Gauge({ name: 'laas_agent_disk_used_percent', help: 'Filesystem space used, percent', labelNames: ['mount'], ...r }),
    diskFree: new Gauge({ name: 'laas_agent_disk_free_bytes', help: 'Filesystem space available to unprivileged users', labelNames: ['mount'], ...r }),
    diskTotal: new Gauge({ name: 'laas_agent_disk_total_bytes', help: 'Filesystem size', labelNames: ['mount'], ...r }),
    netRx: new Gauge({ name: 'laas_agent_network_receive_bytes_per_second', help: 'Bytes received per second', labelNames: ['interface'], ...r }),
    netTx: new Gauge({ name: 'laas_agent_network_transmit_bytes_per_second', help: 'Bytes sent per second', labelNames: ['interface'], ...r }),
    serviceUp: new Gauge({ name: 'laas_agent_service_up', help: '1 when the watched service answers its probe', labelNames: ['service'], ...r }),
    serviceSince: new Gauge({
      name: 'laas_agent_service_changed_timestamp_seconds',
      help: 'When the watched service last changed state',
      labelNames: ['service'],
      ...r,
    }),
  };
  const all = Object.values(facts);

  function readFacts(): void {
    for (const g of all) g.reset();
    const f = opts.facts();
    if (f.cpu) {
      facts.cpuUsage.set(f.cpu.usage);
      facts.load1.set(f.cpu.load1);
      facts.load5.set(f.cpu.load5);
      facts.load15.set(f.cpu.load15);
    }
    if (f.memory) {
      facts.memoryUsed.set(f.memory.usedPercent);
      facts.memoryAvailable.set(f.memory.availableBytes);
      facts.memoryTotal.set(f.memory.totalBytes);
    }
    for (const [mount, d] of Object.entries(f.disk ?? {})) {
      facts.diskUsed.set({ mount }, d.usedPercent);
      facts.diskFree.set({ mount }, d.freeBytes);
      facts.diskTotal.set({ mount }, d.totalBytes);
    }
    for (const [iface, n] of Object.entries(f.net ?? {})) {
      facts.netRx.set({ interface: iface }, n.rxBytesPerSec);
      facts.netTx.set({ interface: iface }, n.txBytesPerSec);
    }
    for (const [service, s] of Object.entries(f.service ?? {})) {
      facts.serviceUp.set({ service }, s.up ? 1 : 0);
      facts.serviceSince.set({ service }, s.since / 1000);
    }
  }

  /** A counter that mirrors a number the link keeps: it adds what the number grew by since the last scrape. */
  const mirrored = (name: string, help: string, read: () => number) => {
    let seen = 0;
    return new Counter({
      name,
      help,
      ...r,
      collect() {
        const now = read();
        if (now > seen) this.inc(now - seen);
        seen = now;
      },
    });
  };
  mirrored('laas_agent_link_connects_total', 'Links to the controller established (welcomed), the first one included', () => link.stats.connects);
  mirrored('laas_agent_samples_dropped_total', 'Samples dropped while the link was down and the buffer was full', () => link.stats.samplesDropped);
  mirrored('laas_agent_results_dropped_total', 'Unacknowledged results dropped because the outbox was full', () => link.stats.resultsDropped);
  new Gauge({
    name: 'laas_agent_link_connected',
    help: '1 while the link to the controller is up',
    ...r,
    collect() {
      this.set(link.connected ? 1 : 0);
    },
  });
  new Gauge({
    name: 'laas_agent_results_pending',
    help: 'Results waiting for the controller to acknowledge them',
    ...r,
    collect() {
      this.set(link.pendingResults());
    },
  });
  const instructions = new Counter({
    name: 'laas_agent_instructions_total',
    help: 'Instructions answered, by action and outcome (refusals included)',
    labelNames: ['action', 'outcome'],
    ...r,
  });

  const send = link.sendResult;
  link.sendResult = (result: Result) => {
    instructions.inc({ action: result.action, outcome: result.outcome });
    send.call(link, result);
  };

  const server = await listen(
    createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the agent serves only GET /metrics\n');
        return;
      }
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(e as Error).message}\n`),
      );
    }),
    opts.listen,
  );
  const addr = server.address() as { address: string; port: number };
  opts.log.info({ listen: `${addr.address}:${addr.port}` }, 'agent metrics listening');
  return {
    address: { host: addr.address, port: addr.port },
    stop: () =>
      new Promise<void>((resolve) => {
        link.sendResult = send;
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function listen(server: Server, hostPort: string): Promise<Server> {
  const i = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = Number(hostPort.slice(i + 1));
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`agent metrics: cannot listen on ${hostPort}: ${e.message}`)));
    server.listen(port, host, () => resolve(server));
  });
}
