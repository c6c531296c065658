import * as v from 'valibot';
import { strictObject, wholeNumber } from '../../../protocol/index.js';
import { durationMin, hostName, namedList, sourceName } from '../section.js';

/** `pings` in agent.json: ICMP echo to a host with the system's ping binary, `count` packets per look. */
export const pingsConfig = namedList(
  strictObject({
    name: sourceName,
    host: hostName,
    count: v.optional(v.pipe(wholeNumber('expected 1-20 packets'), v.minValue(1, 'expected 1-20 packets'), v.maxValue(20, 'expected 1-20 packets')), 3),
    /** How long to wait for each reply. */
    timeout: v.optional(durationMin(100), '1s'),
    interval: v.optional(durationMin(1000), '30s'),
  }),
  200,
);

export type PingConfig = v.InferOutput<typeof pingsConfig>[number];
