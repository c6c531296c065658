import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../../agent/config.js';
import { startAgentMetrics, type AgentMetrics, type LinkView } from '../../../agent/metrics.js';
import { LaasError, silentLogger, type Result } from '../../../protocol/index.js';

function fakeLink() {
  const sent: Result[] = [];
  const link: LinkView & { sent: Result[]; stats: { connects: number; samplesDropped: number; resultsDropped: number }; up: boolean } = {
    sent,
    up: true,
    stats: { connects: 1, samplesDropped: 0, resultsDropped: 0 },
    get connected() {
      return this.up;
    },
    pendingResults: () => 2,
    sendResult(r: Result) {
      sent.push(r);
    },
  };
  return link;
}

const result = (action: string, outcome: Result['outcome']): Result => ({
  id: `${action}-${outcome}-${Math.random()}`,
  action,
  outcome,
  exitCode: 0,
  signal: null,
  stdout: '',
  stderr: '',
  truncated: false,
  startedAt: 0,
  durationMs: 1,
});

describe("the agent's own /metrics", () => {
  let running: AgentMetrics | undefined;
  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });

  async function scrape(m: AgentMetrics, path = '/metrics'): Promise<{ status: number; text: string }> {
    const res = await fetch(`http://127.0.0.1:${m.address.port}${path}`);
    return { status: res.status, text: await res.text() };
  }

  it('serves the latest facts, the link counters and instructions by action and outcome', async () => {
    const link = fakeLink();
    let disk: Record<string, { usedPercent: number; freeBytes: number; totalBytes: number }> = {
      '/': { usedPercent: 42, freeBytes: 1, totalBytes: 2 },
      '/data': { usedPercent: 7, freeBytes: 1, totalBytes: 2 },
    };
    running = await startAgentMetrics({
      listen: '127.0.0.1:0',
      link,
      log: silentLogger,
      facts: () => ({ cpu: { usage: 5, load1: 1, load5: 1, load15: 1 }, disk, service: { api: { up: false, since: 2000 } } }),
    });
    link.sendResult(result('service.restart', 'succeeded'));
    link.sendResult(result('service.restart', 'succeeded'));
    link.sendResult(result('script.run', 'refused'));
    expect(link.sent).toHaveLength(3);
    link.stats.connects = 3;
    link.stats.samplesDropped = 5;
    const first = await scrape(running);
    expect(first.status).toBe(200);
    let text = first.text;
    expect(text).toContain('laas_agent_cpu_usage_percent 5');
    expect(text).toContain('laas_agent_disk_used_percent{mount="/data"} 7');
    expect(text).toContain('laas_agent_service_up{service="api"} 0');
    expect(text).toContain('laas_agent_service_changed_timestamp_seconds{service="api"} 2');
    expect(text).toContain('laas_agent_link_connects_total 3');
    expect(text).toContain('laas_agent_samples_dropped_total 5');
    expect(text).toContain('laas_agent_results_dropped_total 0');
    expect(text).toContain('laas_agent_results_pending 2');
    expect(text).toContain('laas_agent_link_connected 1');
    expect(text).toContain('laas_agent_instructions_total{action="service.restart",outcome="succeeded"} 2');
    expect(text).toContain('laas_agent_instructions_total{action="script.run",outcome="refused"} 1');
    expect(text).toMatch(/^laas_agent_process_resident_memory_bytes \d+/m);
    // Counters follow the link's numbers; facts follow what the agent knows now.
    link.stats.connects = 4;
    link.up = false;
    disk = { '/': disk['/'] };
    text = (await scrape(running)).text;
    expect(text).toContain('laas_agent_link_connects_total 4');
    expect(text).toContain('laas_agent_link_connected 0');
    expect(text).not.toContain('mount="/data"');
  });

  it('answers 404 for anything but GET /metrics, and gives the link back its sendResult when stopped', async () => {
    const link = fakeLink();
    const original = link.sendResult;
    running = await startAgentMetrics({ listen: '127.0.0.1:0', link, log: silentLogger, facts: () => ({}) });
    expect((await scrape(running, '/')).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${running.address.port}/metrics`, { method: 'POST' })).status).toBe(404);
    await running.stop();
    running = undefined;
    expect(link.sendResult).toBe(original);
  });

  it('fails to start, saying where, when the address is taken', async () => {
    running = await startAgentMetrics({ listen: '127.0.0.1:0', link: fakeLink(), log: silentLogger, facts: () => ({}) });
    await expect(startAgentMetrics({ listen: `127.0.0.1:${running.address.port}`, link: fakeLink(), log: silentLogger, facts: () => ({}) })).rejects.toThrow(
      `agent metrics: cannot listen on 127.0.0.1:${running.address.port}: listen EADDRINUSE`,
    );
  });

  it('is configured with "metrics": {"listen": "host:port"}, and is off by default', () => {
    const base = { controller: 'ws://127.0.0.1:7070', token: 'secret' };
    expect(parseAgentConfig(base, 'agent.json').metrics).toBeUndefined();
    expect(parseAgentConfig({ ...base, metrics: { listen: '127.0.0.1:9101' } }, 'agent.json').metrics).toEqual({ listen: '127.0.0.1:9101' });
    for (const [bad, message] of [
      [{ listen: '9101' }, 'agent.json /metrics/listen: expected "host:port"'],
      [{ listen: '127.0.0.1:9101', path: '/m' }, 'agent.json /metrics'],
      ['127.0.0.1:9101', 'agent.json /metrics'],
    ] as const) {
      let err: unknown;
      try {
        parseAgentConfig({ ...base, metrics: bad }, 'agent.json');
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(bad)).toBeInstanceOf(LaasError);
      expect((err as Error).message, JSON.stringify(bad)).toContain(message);
    }
  });

  it("keeps prom-client off the agent's default path: no static import of it from agent/main.ts", () => {
    const root = resolve('agent/main.ts');
    const seen = new Set<string>();
    const packages = new Set<string>();
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, 'utf8');
      // Static imports and re-exports only: `await import('…')` is the lazy path and is allowed.
      for (const m of src.matchAll(/^\s*(?:import|export)\s+(?:type\s+)?[^;'"]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'/gm)) {
        if (/^\s*(?:import|export)\s+type\s/.test(m[0])) continue;
        const spec = m[1] ?? m[2];
        if (spec.startsWith('.')) walk(join(dirname(file), spec.replace(/\.js$/, '.ts')));
        else packages.add(spec);
      }
    };
    walk(root);
    expect(seen.has(resolve('agent/metrics.ts'))).toBe(true);
    expect(seen.size).toBeGreaterThan(10);
    expect([...packages]).not.toContain('prom-client');
    expect(readFileSync(resolve('agent/metrics.ts'), 'utf8')).toContain("await import('prom-client')");
  });
});
