/**
 * node_exporter (Debian package `prometheus-node-exporter`) run by hand on 127.0.0.1 at its
 * default collectors, for the footprint comparison. Without scrapes it does nothing, so the
 * bench scrapes it at the agent's sample interval, as a Prometheus would.
 */
import { freePort } from '../../test/helpers/procs.js';
import { anchorBin, BINS, run, until, type Child } from './common.js';

export interface NodeExporter {
  readonly proc: Child;
  readonly url: string;
  /** One scrape of /metrics; returns the body's size in bytes. */
  scrape: () => Promise<number>;
  stop(): Promise<void>;
}

export async function startNodeExporter(): Promise<NodeExporter> {
  const bin = anchorBin('prometheus-node-exporter', [...BINS.nodeExporter]);
  const port = await freePort();
  const proc = run(bin, [`--web.listen-address=127.0.0.1:${port}`]);
  const url = `http://127.0.0.1:${port}/metrics`;
  const scrape = async () => (await (await fetch(url)).arrayBuffer()).byteLength;
  await until(
    'node_exporter answering',
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`node_exporter exited ${proc.child.exitCode}: ${proc.output()}`);
      return (await scrape()) > 0;
    },
    15_000,
    100,
  );
  return { proc, url, scrape, stop: () => proc.stop() };
}
