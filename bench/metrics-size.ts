/**
 * How big /metrics gets and how long a scrape takes, with N simulated hosts against a real
 * controller (a child process). Each host is a SimAgent speaking the real protocol, reporting
 * cpu, memory, 2 disks, 2 interfaces and 3 services every second. It counts the series
 * (non-comment lines) and bytes of /metrics, before any host and with all of them, and times
 * `--scrapes` scrapes (HTTP GET from this process, sequential, 250 ms apart).
 *
 * With --every-fact each sample carries every fact of issue 18 instead (test/helpers/every-fact.ts).
 *
 *   npm run build && node dist/bench/metrics-size.js [--hosts 100] [--scrapes 20] [--every-fact] [--out FILE]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AGENT_TOKEN, Fleet } from '../test/helpers/fleet.js';
import { stopAll, waitFor } from '../test/helpers/procs.js';
import { everyFact } from '../test/helpers/every-fact.js';
import { SimAgent } from '../test/helpers/sim-agent.js';

const GiB = 2 ** 30;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

interface Scrape {
  series: number;
  bytes: number;
  ms: number;
  text: string;
}

async function scrape(url: string): Promise<Scrape> {
  const started = performance.now();
  const text = await (await fetch(`${url}/metrics`)).text();
  const ms = performance.now() - started;
  return { series: text.split('\n').filter((l) => l.trim() && !l.startsWith('#')).length, bytes: Buffer.byteLength(text), ms, text };
}

function quantiles(xs: number[]): { median: number; p90: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { median: round(median), p90: round(s[Math.min(s.length - 1, Math.floor(0.9 * s.length))]), max: round(s[s.length - 1]) };
}
const round = (x: number) => Math.round(x * 100) / 100;

async function main(): Promise<void> {
  const hosts = Number(arg('hosts', '100'));
  const scrapes = Number(arg('scrapes', '20'));
  const out = arg('out', 'bench/results/metrics-size.json');
  const fleet = new Fleet();
  const sims: SimAgent[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    await fleet.startController({ hostDownAfter: '30s' });
    const empty = await scrape(fleet.url);
    for (let i = 0; i < hosts; i++) {
      const sim = new SimAgent(fleet.url, AGENT_TOKEN, `host-${String(i).padStart(3, '0')}`, { role: i % 2 ? 'web' : 'db' }, 1000);
      sim.services = { nginx: { up: true, since: Date.now() }, api: { up: i % 10 !== 0, since: Date.now() }, cron: { up: true, since: Date.now() } };
      sims.push(sim);
    }
    await Promise.all(sims.map((s) => s.connect()));
    const every = process.argv.includes('--every-fact');
    const report = () =>
      sims.forEach((s, i) =>
        s.sample(
          'interval',
          every
            ? everyFact(i)
            : {
                cpu: { usage: (i * 7) % 100, load1: 1.5, load5: 1.2, load15: 1 },
                memory: { usedPercent: 40 + (i % 50), availableBytes: 8 * GiB, totalBytes: 16 * GiB },
                disk: {
                  '/': { usedPercent: 30 + (i % 60), freeBytes: 70 * GiB, totalBytes: 100 * GiB },
                  '/var/lib/data': { usedPercent: 50, freeBytes: 250 * GiB, totalBytes: 500 * GiB },
                },
                net: { eth0: { rxBytesPerSec: 1e6, txBytesPerSec: 5e5 }, eth1: { rxBytesPerSec: 2e4, txBytesPerSec: 1e4 } },
              },
        ),
      );
    report();
    timer = setInterval(report, 1000);
    const full = await waitFor(
      `${hosts} hosts in /metrics`,
      async () => {
        const s = await scrape(fleet.url);
        return (s.text.match(/^laas_host_service_up\{/gm)?.length ?? 0) === (every ? 2 : 3) * hosts && s;
      },
      30_000,
      250,
    );
    const times: number[] = [];
    let last = full;
    for (let i = 0; i < scrapes; i++) {
      last = await scrape(fleet.url);
      times.push(last.ms);
      await new Promise((r) => setTimeout(r, 250));
    }
    const perHost = (last.series - empty.series) / hosts;
    const byName = new Map<string, number>();
    for (const line of last.text.split('\n')) {
      const m = /^([a-zA-Z_:][\w:]*)/.exec(line);
      if (m && !line.startsWith('#')) byName.set(m[1], (byName.get(m[1]) ?? 0) + 1);
    }
    const result = {
      date: new Date().toISOString().slice(0, 10),
      hosts,
      facts: every ? 'every-fact' : 'classic',
      scrapes,
      empty: { series: empty.series, bytes: empty.bytes },
      full: { series: last.series, bytes: last.bytes },
      seriesPerHost: round(perHost),
      scrapeMs: quantiles(times),
      largest: [...byName]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8)
        .map(([name, series]) => ({ name, series })),
    };
    console.log(JSON.stringify(result, null, 2));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  } finally {
    clearInterval(timer);
    for (const s of sims) s.stop();
    await stopAll();
    await fleet.cleanup();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
