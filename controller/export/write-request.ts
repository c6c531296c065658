import protobuf from 'protobufjs';
import snappy from 'snappyjs';

/**
 * Prometheus remote-write 1.0: a WriteRequest (prometheus/prompb/remote.proto and types.proto,
 * the fields a sender fills) as protobuf, compressed with snappy's block format. Built by
 * reflection here rather than from a generated file: the four messages are the whole schema.
 */
const root = protobuf.Root.fromJSON({
  nested: {
    prometheus: {
      nested: {
        WriteRequest: { fields: { timeseries: { rule: 'repeated', type: 'TimeSeries', id: 1 } } },
        TimeSeries: { fields: { labels: { rule: 'repeated', type: 'Label', id: 1 }, samples: { rule: 'repeated', type: 'Sample', id: 2 } } },
        Label: { fields: { name: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
        Sample: { fields: { value: { type: 'double', id: 1 }, timestamp: { type: 'int64', id: 2 } } },
      },
    },
  },
});
const WriteRequest = root.lookupType('prometheus.WriteRequest');

export interface Label {
  name: string;
  value: string;
}

/** One series with one sample; labels sorted by name, `__name__` among them (the receiver expects both). */
export interface TimeSeries {
  labels: Label[];
  samples: { value: number; timestamp: number }[];
}

/** The request body: protobuf, then snappy. */
export function encodeWriteRequest(timeseries: TimeSeries[]): Uint8Array {
  return snappy.compress(WriteRequest.encode(WriteRequest.fromObject({ timeseries })).finish());
}

/** The reverse, for tests and the bench: what a receiver reads from the body. */
export function decodeWriteRequest(body: Uint8Array): TimeSeries[] {
  const msg = WriteRequest.decode(snappy.uncompress(body));
  const o = WriteRequest.toObject(msg, { longs: Number, defaults: true }) as { timeseries?: TimeSeries[] };
  return o.timeseries ?? [];
}

/** The headers remote-write 1.0 asks of a sender. */
export const WRITE_HEADERS = {
  'Content-Type': 'application/x-protobuf',
  'Content-Encoding': 'snappy',
  'X-Prometheus-Remote-Write-Version': '0.1.0',
} as const;
