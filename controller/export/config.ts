import { z } from 'zod';
import { resolveSecret } from '../../protocol/index.js';
import { zDuration, zSecret } from '../../protocol/zod.js';

/** One remote-write target in controller.json: where host facts go, how often, with which credentials. */
export const remoteWriteSchema = z
  .strictObject({
    /** A Prometheus-compatible receiver: Prometheus' /api/v1/write, Mimir, VictoriaMetrics, Thanos Receive. */
    url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL, e.g. "http://prometheus:9090/api/v1/write"' }),
    /** How often every reporting host's latest facts are sent (one sample per series per interval). */
    interval: zDuration.default(15_000),
    /** One request's deadline. */
    timeout: zDuration.default(10_000),
    /** Extra request headers (a tenant id: "X-Scope-OrgID"); values may be secrets. */
    headers: z.record(z.string().regex(/^[\w-]+$/, 'a header name: letters, digits, - and _'), zSecret).optional(),
    basicAuth: z.strictObject({ username: z.string().min(1), password: zSecret }).optional(),
    bearerToken: zSecret.optional(),
    /** Samples in one request (Prometheus sends 2,000 by default). */
    maxSamplesPerSend: z.number().int().min(1).max(100_000).default(2_000),
    /**
     * Requests in flight at once, each shard sending the series of the hosts whose name hashes to
     * it, in order (Prometheus' own remote-write shards the same way). One at a time carried ~5,000
     * hosts at 15 s to one Prometheus; see bench/RESULTS.md, remote-write.
     */
    shards: z.number().int().min(1).max(32).default(4),
    /**
     * Samples waiting while the receiver is slow or down; past this the oldest are dropped and
     * counted (laas_remote_write_dropped_samples_total), so an outage costs bounded memory. Split
     * evenly between the shards, so the bound holds overall.
     */
    maxQueuedSamples: z.number().int().min(1).max(50_000_000).default(2_000_000),
    /** Series one host may send per interval (far above /metrics' per-host caps; past it, the rest is counted as dropped). */
    maxSeriesPerHost: z.number().int().min(1).max(1_000_000).default(5_000),
    /** First and longest wait between retries of a failed request (doubling, with jitter). */
    minBackoff: zDuration.default(100),
    maxBackoff: zDuration.default(10_000),
  })
  .superRefine((c, ctx) => {
    if (c.basicAuth && c.bearerToken) ctx.addIssue({ code: 'custom', path: ['bearerToken'], message: 'give "basicAuth" or "bearerToken", not both' });
    if (c.minBackoff > c.maxBackoff) ctx.addIssue({ code: 'custom', path: ['minBackoff'], message: 'must not be longer than "maxBackoff"' });
    // A batch larger than a shard's share of the bound would be dropped as it is queued: nothing would ever be sent.
    if (c.maxQueuedSamples < c.maxSamplesPerSend * c.shards)
      ctx.addIssue({
        code: 'custom',
        path: ['maxQueuedSamples'],
        message: `must be at least "maxSamplesPerSend" × "shards" (${c.maxSamplesPerSend * c.shards}: each shard's share of the queue must hold a batch)`,
      });
    if (c.timeout >= c.interval * 10) ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'must be shorter than 10 intervals' });
  });

/** A remote-write target with its secrets read and its headers made. */
export interface RemoteWriteTarget {
  url: string;
  intervalMs: number;
  timeoutMs: number;
  /** Every header to send, credentials included (never logged). */
  headers: Record<string, string>;
  maxSamplesPerSend: number;
  /** Parallel senders (1..32). */
  shards: number;
  maxQueuedSamples: number;
  maxSeriesPerHost: number;
  minBackoffMs: number;
  maxBackoffMs: number;
}

export function resolveRemoteWrite(list: z.output<typeof remoteWriteSchema>[], where: string): RemoteWriteTarget[] {
  return list.map((c, n) => {
    const at = `${where} /remoteWrite/${n}`;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(c.headers ?? {})) headers[name] = resolveSecret(value, `${at}/headers/${name}`);
    if (c.basicAuth) {
      const password = resolveSecret(c.basicAuth.password, `${at}/basicAuth/password`);
      headers.Authorization = `Basic ${Buffer.from(`${c.basicAuth.username}:${password}`).toString('base64')}`;
    }
    if (c.bearerToken) headers.Authorization = `Bearer ${resolveSecret(c.bearerToken, `${at}/bearerToken`)}`;
    return {
      url: c.url,
      intervalMs: c.interval,
      timeoutMs: c.timeout,
      headers,
      maxSamplesPerSend: c.maxSamplesPerSend,
      shards: c.shards,
      maxQueuedSamples: c.maxQueuedSamples,
      maxSeriesPerHost: c.maxSeriesPerHost,
      minBackoffMs: c.minBackoff,
      maxBackoffMs: c.maxBackoff,
    };
  });
}
