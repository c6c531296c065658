/**
 * Prometheus and Alertmanager (Debian packages `prometheus`, `prometheus-alertmanager`) run by
 * hand on 127.0.0.1 with their own configs and storage in a scratch folder — never /etc or
 * their services. Prometheus scrapes each dummy service's /metrics directly (its `up` series
 * is the tool's view of the service) and fires `<name>Down` on `up == 0`; Alertmanager sends
 * the notification to a real HTTP receiver. Intervals are parameters: the fastest sensible
 * settings are a 1 s scrape and evaluation, `for: 0s` and `group_wait: 0s`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../test/helpers/procs.js';
import { anchorBin, BINS, removeDir, run, scratch, until, type Child, type DemoService } from './common.js';

export interface PrometheusStack {
  readonly prometheus: Child;
  readonly alertmanager: Child;
  readonly prometheusUrl: string;
  readonly alertmanagerUrl: string;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  services: DemoService[];
  /** Where Alertmanager posts its webhook (Alertmanager's payload, version 4). */
  receiverUrl: string;
  scrapeInterval?: string;
  evaluationInterval?: string;
  groupWait?: string;
  groupInterval?: string;
}

/** The alert name Prometheus gives a service's outage. */
export const alertName = (service: string): string => `${service.replace(/[^A-Za-z0-9]/g, '_')}Down`;

export async function startPrometheusStack(opts: PrometheusOptions): Promise<PrometheusStack> {
  const promBin = anchorBin('prometheus', [...BINS.prometheus]);
  const amBin = anchorBin('prometheus-alertmanager', [...BINS.alertmanager]);
  const dir = scratch('prometheus');
  const [promPort, amPort] = [await freePort(), await freePort()];
  const scrape = opts.scrapeInterval ?? '1s';
  writeFileSync(
    join(dir, 'alertmanager.yml'),
    [
      'route:',
      '  receiver: hook',
      '  group_by: [alertname]',
      `  group_wait: ${opts.groupWait ?? '0s'}`,
      `  group_interval: ${opts.groupInterval ?? '1s'}`,
      '  repeat_interval: 1h',
      'receivers:',
      '  - name: hook',
      '    webhook_configs:',
      `      - url: ${opts.receiverUrl}`,
      '        send_resolved: true',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'rules.yml'),
    [
      'groups:',
      '  - name: demo',
      `    interval: ${opts.evaluationInterval ?? '1s'}`,
      '    rules:',
      ...opts.services.flatMap((s) => [`      - alert: ${alertName(s.name)}`, `        expr: up{job="${s.name}"} == 0`, '        for: 0s']),
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      `  scrape_interval: ${scrape}`,
      // The timeout may not exceed the interval; a dead local service refuses at once anyway.
      `  scrape_timeout: ${scrape}`,
      `  evaluation_interval: ${opts.evaluationInterval ?? '1s'}`,
      'rule_files: [rules.yml]',
      'alerting:',
      '  alertmanagers:',
      `    - static_configs: [{ targets: ["127.0.0.1:${amPort}"] }]`,
      'scrape_configs:',
      ...opts.services.flatMap((s) => [`  - job_name: ${s.name}`, `    static_configs: [{ targets: ["127.0.0.1:${s.port}"] }]`]),
      '',
    ].join('\n'),
  );
  const alertmanager = run(
    amBin,
    [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'am')}`,
      `--web.listen-address=127.0.0.1:${amPort}`,
      '--cluster.listen-address=',
    ],
    { cwd: dir },
  );
  const prometheus = run(
    promBin,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`],
    { cwd: dir },
  );
  const stop = async () => {
    await Promise.all([prometheus.stop(), alertmanager.stop()]);
    removeDir(dir);
  };
  const ready = async (c: Child, url: string) => {
    if (c.child.exitCode !== null) throw new Error(`exited ${c.child.exitCode}: ${c.output()}`);
    return (await fetch(url)).ok;
  };
  const prometheusUrl = `http://127.0.0.1:${promPort}`;
  const alertmanagerUrl = `http://127.0.0.1:${amPort}`;
  try {
    await until('alertmanager ready', () => ready(alertmanager, `${alertmanagerUrl}/-/ready`), 20_000, 100);
    await until('prometheus ready', () => ready(prometheus, `${prometheusUrl}/-/ready`), 30_000, 100);
  } catch (e) {
    await stop();
    throw e;
  }
  return { prometheus, alertmanager, prometheusUrl, alertmanagerUrl, stop };
}

/** Prometheus's current `up` of a job (undefined before the first scrape). */
export async function upOf(stack: PrometheusStack, job: string): Promise<number | undefined> {
  const r = await fetch(`${stack.prometheusUrl}/api/v1/query?query=${encodeURIComponent(`up{job="${job}"}`)}`);
  const body = (await r.json()) as { data?: { result?: { value: [number, string] }[] } };
  const v = body.data?.result?.[0]?.value?.[1];
  return v === undefined ? undefined : Number(v);
}
