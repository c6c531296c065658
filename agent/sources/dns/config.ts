import * as v from 'valibot';
import { strictObject } from '../../../protocol/index.js';
import { durationMin, namedList, sourceName } from '../section.js';

export const DNS_TYPES = ['A', 'AAAA', 'CNAME', 'MX', 'NS', 'TXT', 'SRV'] as const;

const SERVER = 'expected a DNS server like "10.0.0.53", "127.0.0.1:5353" or "[::1]:53"';

/** `dns` in agent.json: a name to resolve (at the system's DNS servers, or `server`), and what it must resolve to. */
export const dnsConfig = namedList(
  strictObject({
    name: sourceName,
    query: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,253}$/, 'expected a DNS name like "api.example.com"')),
    type: v.optional(v.picklist(DNS_TYPES, `expected one of ${DNS_TYPES.join(', ')}`), 'A'),
    /** Every one of these must be among the answers (compared without case and trailing dot). */
    expect: v.optional(v.pipe(v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(300))), v.maxLength(50))),
    server: v.optional(v.pipe(v.string(), v.regex(/^(\[[0-9a-fA-F:.]+\](:\d{1,5})?|[0-9.]+(:\d{1,5})?|[0-9a-fA-F:]+)$/, SERVER))),
    timeout: v.optional(durationMin(100), '5s'),
    interval: v.optional(durationMin(1000), '1m'),
  }),
  200,
);

export type DnsConfig = v.InferOutput<typeof dnsConfig>[number];
