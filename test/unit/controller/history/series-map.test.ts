import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LAAS_SERIES, NODE_SERIES, type SeriesMapping } from '../../../../controller/history/series-map.js';
import { FACT_FAMILIES } from '../../../../controller/fact-series.js';
import { mappingOf } from '../../../../controller/history/rebuild.js';
import { kindAt } from '../../../../controller/rules/fact-types.js';

// A keyed fact is a record: any key stands for all of them.
const path = (m: SeriesMapping) => (m.key ? ['some-key', m.field] : [m.field]);
const doc = readFileSync('docs/backtest.md', 'utf8');

describe('backtest series mappings', () => {
  it.each([...LAAS_SERIES, ...NODE_SERIES].map((m) => [`${m.fact}.${m.field} ← ${m.query}`, m] as const))(
    '%s lands on a field of the sample schema of the right kind',
    (_, m) => {
      const kind = kindAt(m.fact, path(m));
      expect(kind, `${m.fact} ${JSON.stringify(path(m))}`).toBe(m.bool ? 'boolean' : 'number');
    },
  );

  it('reads only series laas exports, with the key label the export gives them', () => {
    const families = new Map(FACT_FAMILIES.map((f) => [f.name, f]));
    for (const m of LAAS_SERIES) {
      const names = m.query.match(/laas_host_[a-z0-9_]+/g) ?? [];
      expect(names.length, m.query).toBeGreaterThan(0);
      for (const name of names) {
        const family = families.get(name);
        expect(family, `${name} is not exported (controller/fact-series.ts)`).toBeDefined();
        if (m.key) expect(family!.labels[0]).toBe(m.key);
      }
    }
  });

  it('docs/backtest.md lists every mapping', () => {
    for (const m of [...LAAS_SERIES, ...NODE_SERIES]) expect(doc).toContain(`\`${m.query.replace(/\|/g, '\\|')}\``);
  });
});

describe('which series a windowed path is rebuilt from', () => {
  it('finds the field, and the key a path names (none under a wildcard)', () => {
    expect(mappingOf('laas', 'cpu', '$.usage')?.m.query).toBe('laas_host_cpu_usage_percent');
    expect(mappingOf('laas', 'disk', '$.*.freeBytes')).toEqual({ m: expect.objectContaining({ query: 'laas_host_disk_free_bytes', key: 'mount' }) });
    expect(mappingOf('laas', 'disk', "$['/'].freeBytes")).toEqual({ m: expect.objectContaining({ query: 'laas_host_disk_free_bytes' }), key: '/' });
    expect(mappingOf('node', 'cpu', '$.usage')?.m.query).toContain('node_cpu_seconds_total{mode="idle"}');
  });

  it('has none for text, unknown fields, or paths of the wrong shape', () => {
    expect(mappingOf('laas', 'check', '$.*.output')).toBeUndefined();
    expect(mappingOf('laas', 'cpu', '$.nope')).toBeUndefined();
    expect(mappingOf('laas', 'disk', '$.freeBytes')).toBeUndefined();
    expect(mappingOf('laas', 'cpu', '$.usage.more')).toBeUndefined();
    expect(mappingOf('node', 'service', '$.*.up')).toBeUndefined();
  });
});
