import { execFile } from 'node:child_process';
import type { Sample } from '../../../protocol/index.js';
import type { PingConfig } from './config.js';

export type PingFacts = NonNullable<Sample['ping']>[string];

/** iputils' gap between packets (the least an unprivileged user may ask for). */
const GAP_S = 0.2;

/**
 * Pings with the system's ping binary (iputils: ICMP datagram sockets or its own capability — the
 * agent builds no packets), as an argument vector with the C locale so its summary parses.
 */
export function ping(c: PingConfig, signal: AbortSignal, env: NodeJS.ProcessEnv): Promise<PingFacts> {
  const argv = ['-n', '-c', String(c.count), '-W', (c.timeout / 1000).toFixed(3), '-i', String(GAP_S), c.host];
  // Past this ping has had every chance to finish: bounded whatever the network does.
  const limit = Math.ceil(c.count * GAP_S * 1000 + c.timeout + 2000);
  return new Promise((resolve) => {
    execFile('ping', argv, { env: { ...env, LC_ALL: 'C' }, timeout: limit, killSignal: 'SIGKILL', maxBuffer: 65_536, signal }, (err, stdout, stderr) => {
      resolve(parsePing(String(stdout), String(stderr), err as (NodeJS.ErrnoException & { killed?: boolean }) | null, c.count, limit));
    });
  });
}

export function parsePing(
  stdout: string,
  stderr: string,
  err: (NodeJS.ErrnoException & { killed?: boolean }) | null,
  count: number,
  limitMs: number,
): PingFacts {
  const stats = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(stdout);
  if (stats === null) {
    const why =
      err?.code === 'ENOENT'
        ? 'the ping binary was not found (Debian: iputils-ping)'
        : err?.killed
          ? `ping did not finish within ${limitMs}ms`
          : stderr.trim().split('\n')[0] || stdout.trim().split('\n').pop() || `ping failed (${err?.code ?? 'no summary'})`;
    return { up: false, sent: 0, received: 0, lossPercent: 100, error: why.slice(0, 500) };
  }
  const sent = Number(stats[1]);
  const received = Number(stats[2]);
  const rtt = /(?:rtt|round-trip) min\/avg\/max(?:\/mdev)? = ([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(stdout);
  const lossPercent = sent > 0 ? Math.round(((sent - received) / sent) * 1000) / 10 : 100;
  const errors = /\+(\d+) errors/.exec(stdout);
  return {
    up: received > 0,
    sent: sent || count,
    received,
    lossPercent,
    ...(rtt && received > 0 ? { rttMs: Number(rtt[2]), rttMaxMs: Number(rtt[3]) } : {}),
    ...(errors ? { error: `${errors[1]} ICMP errors (${(stdout.match(/From \S+ icmp_seq=\d+ (.+)/) ?? [])[1] ?? 'unreachable'})`.slice(0, 500) } : {}),
  };
}
