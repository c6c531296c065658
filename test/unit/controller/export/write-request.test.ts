import { describe, expect, it } from 'vitest';
import { decodeWriteRequest, encodeWriteRequest } from '../../../../controller/export/write-request.js';
import { LatestFacts } from '../../../../controller/export/latest-facts.js';
import { BatchQueue } from '../../../../controller/export/queue.js';
import { everyFact } from '../../../helpers/every-fact.js';

describe('remote-write encoding', () => {
  it('decodes (protobuf, snappy) to the series it encoded, labels sorted with __name__ first', () => {
    const latest = new LatestFacts(60_000);
    latest.record('web-1', { seq: 0, ts: 0, trigger: 'interval', ...everyFact(0, 1_700_000_000_000) }, 1_700_000_000_000);
    const slices = [...latest.series(1_700_000_000_500, 10_000, 10_000, () => undefined)];
    expect(slices).toHaveLength(1);
    const decoded = decodeWriteRequest(encodeWriteRequest(slices[0]));
    expect(decoded).toEqual(slices[0]);
    const perf = decoded.find((t) => t.labels[0].value === 'laas_host_check_perf' && t.labels.some((l) => l.value === 'disk-root'))!;
    expect(perf.labels.map((l) => l.name)).toEqual(['__name__', 'check', 'host', 'label', 'uom']);
    expect(perf.samples).toEqual([{ value: 1234, timestamp: 1_700_000_000_500 }]);
    for (const t of decoded) expect(t.labels.map((l) => l.name)).toEqual(t.labels.map((l) => l.name).sort());
  });

  it('slices a host past maxSeriesPerHost and counts the rest; forgets a stale host', () => {
    const latest = new LatestFacts(60_000);
    latest.record('a', { seq: 0, ts: 0, trigger: 'interval', ...everyFact() }, 0);
    let over = 0;
    const slices = [...latest.series(1000, 7, 10, (n) => (over += n))];
    expect(slices.map((s) => s.length)).toEqual([7, 3]);
    expect(over).toBeGreaterThan(40);
    expect([...latest.series(61_000, 7, 10, () => undefined)]).toEqual([]);
    expect(latest.size).toBe(0);
  });

  it('bounds the queue by samples, dropping the oldest batches and counting them', () => {
    let dropped = 0;
    const q = new BatchQueue(10, (n) => (dropped += n));
    for (let i = 0; i < 5; i++) q.push({ body: new Uint8Array([i]), samples: 4 });
    expect(q.samples).toBe(8);
    expect(dropped).toBe(12);
    expect(q.take()!.body[0]).toBe(3);
  });
});
