import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FACT_FAMILIES } from '../../controller/fact-series.js';
import { createMetrics } from '../../controller/metrics.js';
import { DASHBOARDS_DIR, allPanels, loadDashboards, metricNames, panelQueries, variableQueries, yamlValues, type Dashboard } from '../helpers/dashboards.js';

const DS_VAR = { type: 'prometheus', uid: '${datasource}' };
const PANEL_TYPES = new Set(['timeseries', 'stat', 'table', 'heatmap', 'bargauge', 'state-timeline', 'gauge']);
const boards = loadDashboards();
const byFile = (file: string): Dashboard => boards.find((b) => b.file === file)!.dashboard;

/** Names the controller registers (default process metrics included), with each metric's type. */
async function registered(): Promise<Map<string, string>> {
  const metrics = createMetrics();
  return new Map((await metrics.registry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]));
}

/** A name a query may use: a registered metric, or a histogram's _bucket/_sum/_count series. */
function known(name: string, names: Map<string, string>): boolean {
  if (names.has(name)) return true;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  return m !== null && ['histogram', 'summary'].includes(names.get(m[1]) ?? '') && (m[2] !== 'bucket' || names.get(m[1]) === 'histogram');
}

interface Override {
  matcher: { id: string; options: string };
  properties: { id: string; value: unknown }[];
}

/** The Grafana units that fit a query, from its metric's base-unit suffix (fact-series.ts names); undefined: a count, any unit. */
function expectedUnits(expr: string): string[] | undefined {
  const name = metricNames(expr)[0] ?? '';
  if (name.endsWith('_timestamp_seconds')) {
    if (/time\(\)\s*-/.test(expr)) return ['s', 'dtdurations'];
    if (/\*\s*1000\b/.test(expr)) return ['dateTimeAsIso'];
    return ['dateTimeAsIso', 'dateTimeFromNow'];
  }
  if (name.endsWith('_percent')) return ['percent'];
  if (name.endsWith('_bytes_per_second')) return ['Bps', 'binBps'];
  if (name.endsWith('_bytes')) return ['bytes', 'decbytes'];
  if (name.endsWith('_seconds')) return ['s', 'dtdurations'];
  return undefined;
}

describe('Grafana dashboards', () => {
  it('ships the three dashboards, each with a unique uid and a recent schema', () => {
    expect(boards.map((b) => b.file)).toEqual(['alerts-and-heals.json', 'fleet-overview.json', 'host-detail.json']);
    expect(new Set(boards.map((b) => b.dashboard.uid)).size).toBe(3);
    for (const { dashboard: d } of boards) {
      expect(d.title).toMatch(/^laas — /);
      expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
      expect((d as unknown as { id: unknown }).id).toBeNull();
    }
  });

  it('selects Prometheus through a datasource variable, never a hard-coded uid', () => {
    for (const { file, dashboard: d } of boards) {
      const ds = d.templating.list.find((v) => v.name === 'datasource');
      expect(ds, `${file}: a "datasource" variable`).toMatchObject({ type: 'datasource', query: 'prometheus' });
      for (const p of allPanels(d)) {
        if (p.type === 'row') continue;
        expect(p.datasource, `${file} panel ${p.id} "${p.title}"`).toEqual(DS_VAR);
        for (const t of p.targets ?? []) expect(t.datasource, `${file} panel ${p.id} "${p.title}" target ${t.refId}`).toEqual(DS_VAR);
      }
      for (const v of d.templating.list.filter((x) => x.type === 'query')) expect(v.datasource, `${file} variable ${v.name}`).toEqual(DS_VAR);
      for (const a of d.annotations?.list ?? []) if (!a.builtIn) expect(a.datasource, `${file} annotation ${a.name}`).toEqual(DS_VAR);
      // Anywhere in the panels, a uid is the variable: a pasted "uid": "P1809F7CD0C75ACF3" fails here.
      const uids = [...JSON.stringify(d.panels).matchAll(/"uid":\s*"([^"]*)"/g)].map((m) => m[1]);
      expect(
        uids.filter((u) => u !== '${datasource}'),
        file,
      ).toEqual([]);
    }
  });

  it('gives every panel a unique id, a place on the grid, a query and a unit', () => {
    for (const { file, dashboard: d } of boards) {
      const panels = allPanels(d);
      const ids = panels.map((p) => p.id);
      expect(new Set(ids).size, `${file}: duplicate panel ids in ${ids.join(',')}`).toBe(ids.length);
      const cells = new Map<string, string>();
      for (const p of panels) {
        const where = `${file} panel ${p.id} "${p.title}"`;
        const g = p.gridPos;
        expect(g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0, `${where} fits the 24-column grid`).toBe(true);
        // No two panels on the same cell: overlapping panels are a layout mistake Grafana silently moves.
        for (let x = g.x; x < g.x + g.w; x++)
          for (let y = g.y; y < g.y + g.h; y++) {
            const other = cells.get(`${x},${y}`);
            expect(other, `${where} overlaps ${other}`).toBeUndefined();
            cells.set(`${x},${y}`, where);
          }
        if (p.type === 'row') {
          expect(p.targets ?? [], where).toEqual([]);
          continue;
        }
        expect(PANEL_TYPES.has(p.type), `${where}: type ${p.type}`).toBe(true);
        expect(p.title.trim(), where).not.toBe('');
        expect(p.targets?.length, `${where} has a query`).toBeGreaterThan(0);
        for (const t of p.targets!) expect(t.expr?.trim(), `${where} target ${t.refId} has an expr`).toBeTruthy();
        expect(new Set(p.targets!.map((t) => t.refId)).size, `${where}: refIds unique`).toBe(p.targets!.length);
        expect(p.fieldConfig?.defaults?.unit, `${where} has a unit`).toMatch(/\S/);
      }
    }
  });

  it('shows the fleet health numbers as stat panels', () => {
    const stats = allPanels(byFile('fleet-overview.json'))
      .filter((p) => p.type === 'stat')
      .flatMap((p) => p.targets!.map((t) => t.expr!));
    for (const metric of [
      'laas_host_up',
      'laas_link_agents_connected',
      'laas_alerts_active',
      'laas_heal_actions_total',
      'laas_heal_breakers_open',
      'laas_heal_approvals_pending',
      'laas_heal_shadow_total',
      'laas_heal_paused',
    ]) {
      expect(
        stats.some((e) => metricNames(e).includes(metric)),
        `a stat panel on ${metric}`,
      ).toBe(true);
    }
    const ah = allPanels(byFile('alerts-and-heals.json'));
    expect(
      ah.find((p) => p.type === 'table' && p.targets!.some((t) => t.expr!.includes('state="firing"'))),
      'a table of firing alerts',
    ).toBeDefined();
    expect(
      ah.find((p) => p.type === 'heatmap' && p.targets!.some((t) => t.expr!.includes('laas_heal_fault_to_dispatch_seconds_bucket') && t.format === 'heatmap')),
      'a heat map of fault-to-dispatch time',
    ).toBeDefined();
  });

  it('has a host variable on the host dashboard, and every host panel filters on it', () => {
    const d = byFile('host-detail.json');
    const host = d.templating.list.find((v) => v.name === 'host');
    expect(host).toMatchObject({ type: 'query', definition: 'label_values(laas_host_up, host)' });
    expect(variableQueries(d)).toEqual(['label_values(laas_host_up, host)']);
    for (const q of panelQueries(d)) expect(q.expr, `${q.panel} ${q.refId}`).toContain('host="$host"');
    // Each host series in a query is filtered, not only the first: `a{host="$host"} / b` would mix every host's b in.
    for (const q of panelQueries(d))
      for (const m of q.expr.matchAll(/\b(laas_host_\w+)(\{[^}]*\})?/g)) expect(m[2] ?? '', `${q.panel} ${q.refId}: ${m[1]}`).toContain('host="$host"');
  });

  it('shows every fact series the controller exports on the host dashboard', () => {
    const used = new Set(panelQueries(byFile('host-detail.json')).flatMap((q) => metricNames(q.expr)));
    const missing = FACT_FAMILIES.map((f) => f.name).filter((n) => !used.has(n));
    expect(missing, 'fact series (controller/fact-series.ts) no host-detail panel shows').toEqual([]);
    expect(FACT_FAMILIES.length).toBeGreaterThan(50);
  });

  it("gives each host panel's series the unit its name says (percent, bytes, seconds, ages, dates)", () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const p of allPanels(byFile('host-detail.json'))) {
      const fc = (p as unknown as { fieldConfig?: { defaults?: { unit?: string }; overrides?: Override[] } }).fieldConfig ?? {};
      const renamed = (p as unknown as { transformations?: { id: string; options: { renameByName?: Record<string, string> } }[] }).transformations?.find(
        (t) => t.id === 'organize',
      )?.options.renameByName;
      for (const t of p.targets ?? []) {
        // A series is shown under its legend (time series) or its column name (tables); an override by that name sets its unit.
        const shownAs = renamed?.[`Value #${t.refId}`] ?? t.legendFormat;
        const override = fc.overrides?.find((o) => o.matcher.id === 'byName' && o.matcher.options === shownAs)?.properties.find((x) => x.id === 'unit');
        const unit = (override?.value as string | undefined) ?? fc.defaults?.unit ?? '';
        const want = expectedUnits(t.expr!);
        if (want) checked++;
        if (want && !want.includes(unit)) wrong.push(`panel ${p.id} "${p.title}" ${t.refId} (${t.expr}): ${unit}, expected one of ${want.join(' ')}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(checked).toBeGreaterThan(30);
    // The checker knows each kind.
    expect(expectedUnits('laas_host_io_await_seconds{host="$host"}')).toContain('s');
    expect(expectedUnits('time() - laas_host_check_run_timestamp_seconds{host="$host"}')).toContain('dtdurations');
    expect(expectedUnits('max(laas_host_cert_expiry_timestamp_seconds{host="$host"}) * 1000')).toEqual(['dateTimeAsIso']);
    expect(expectedUnits('laas_host_system_zombies{host="$host"}')).toBeUndefined();
  });

  it('uses only metric names that controller/metrics.ts defines', async () => {
    const names = await registered();
    const unknown: string[] = [];
    let checked = 0;
    for (const { file, dashboard: d } of boards) {
      const exprs = [
        ...panelQueries(d).map((q) => ({ where: `${file} panel ${q.panelId} "${q.panel}" ${q.refId}`, expr: q.expr })),
        ...variableQueries(d).map((expr) => ({ where: `${file} variable`, expr })),
        ...(d.annotations?.list ?? []).filter((a) => a.expr).map((a) => ({ where: `${file} annotation ${a.name}`, expr: a.expr! })),
      ];
      for (const { where, expr } of exprs) {
        const used = metricNames(expr);
        expect(used.length, `${where}: no metric in ${expr}`).toBeGreaterThan(0);
        for (const n of used) {
          checked++;
          if (!known(n, names)) unknown.push(`${where}: ${n}`);
        }
      }
    }
    expect(unknown).toEqual([]);
    expect(checked).toBeGreaterThan(50);
  });

  it('reads metric names out of PromQL (the checker checks itself)', () => {
    expect(metricNames('histogram_quantile(0.95, sum by (le) (rate(laas_heal_fault_to_dispatch_seconds_bucket{job="x"}[$__rate_interval])))')).toEqual([
      'laas_heal_fault_to_dispatch_seconds_bucket',
    ]);
    expect(metricNames('count(laas_host_up == 0) or vector(0)')).toEqual(['laas_host_up']);
    expect(metricNames('time() - laas_host_last_seen_timestamp_seconds{host="$host"}')).toEqual(['laas_host_last_seen_timestamp_seconds']);
    expect(metricNames('sum(a_total{x=~"b|c"}) / ignoring(x) group_left(y) (b_total > 1e3) offset 5m')).toEqual(['a_total', 'b_total']);
    expect(metricNames('label_values(laas_host_up, host)')).toEqual(['laas_host_up']);
    expect(metricNames('label_replace(vector(0), "reason", "none", "", "")')).toEqual([]);
    expect(known('laas_heal_duration_seconds_bucket', new Map([['laas_heal_duration_seconds', 'histogram']]))).toBe(true);
    expect(known('laas_host_up_bucket', new Map([['laas_host_up', 'gauge']]))).toBe(false);
    expect(known('lass_host_up', new Map([['laas_host_up', 'gauge']]))).toBe(false);
  });
});

describe('Grafana and Prometheus provisioning', () => {
  const read = (rel: string) => readFileSync(join(DASHBOARDS_DIR, rel), 'utf8');

  it("provisions a Prometheus data source whose uid is the dashboards' default", () => {
    const file = 'provisioning/datasources/laas.yml';
    expect(existsSync(join(DASHBOARDS_DIR, file))).toBe(true);
    const text = read(file);
    expect(yamlValues(text, 'apiVersion')).toEqual(['1']);
    expect(yamlValues(text, 'type')).toEqual(['prometheus']);
    const [uid] = yamlValues(text, 'uid');
    const [url] = yamlValues(text, 'url');
    expect(url).toMatch(/^http:\/\/[^/]+:9090$/);
    for (const { file: f, dashboard: d } of boards) {
      expect(d.templating.list.find((v) => v.name === 'datasource')?.current?.value, f).toBe(uid);
    }
  });

  it('provisions a dashboard provider whose path is where the README puts dashboards/', () => {
    const text = read('provisioning/dashboards/laas.yml');
    expect(yamlValues(text, 'apiVersion')).toEqual(['1']);
    expect(yamlValues(text, 'type')).toEqual(['file']);
    const [path] = yamlValues(text, 'path');
    expect(path).toMatch(/^\//);
    // The README's Grafana commands mount the repository's dashboards/ at that path, and its
    // provisioning/ folder as Grafana's: nothing to edit by hand.
    const readme = readFileSync(resolve('README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Grafana and Prometheus'), readme.indexOf('## Benchmarks'));
    expect(section).toContain(`dashboards:${path}`);
    expect(section).toContain('dashboards/provisioning:/etc/grafana/provisioning');
    expect(readme.indexOf('## Grafana and Prometheus')).toBeGreaterThan(0);
    expect(readme.indexOf('## Grafana and Prometheus')).toBeLessThan(readme.indexOf('## Benchmarks'));
  });

  it("ships a Prometheus scrape config for the controller's default address", () => {
    const text = read('prometheus.yml');
    expect(yamlValues(text, 'job_name')).toEqual(['laas']);
    expect(text).toMatch(/targets:\s*\["127\.0\.0\.1:7070"\]/);
    expect(yamlValues(text, 'metrics_path')).toEqual(['/metrics']);
    const [interval] = yamlValues(text, 'scrape_interval');
    expect(yamlValues(read('provisioning/datasources/laas.yml'), 'timeInterval')).toEqual([interval]);
  });
});
