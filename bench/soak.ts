/**
 * Soak: many simulated agents (real WebSocket links, the real protocol) against a real
 * controller process, with random service faults for a bounded time. Every fault must end
 * healed (or, if a brake stopped the heal, with a recorded reason) and no alert may be left
 * firing; the controller's RSS and open file descriptors are sampled throughout.
 *
 *   npm run build && node dist/bench/soak.js [--agents 500] [--seconds 1800] [--faults-per-second 5]
 * CI runs a short mode (100 agents, 15 s) from test/e2e/soak-short.test.ts so it cannot rot.
 */
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { AGENT_TOKEN, Fleet } from '../test/helpers/fleet.js';
import { stopAll, waitFor } from '../test/helpers/procs.js';
import { SimAgent } from '../test/helpers/sim-agent.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
};

interface Heal {
  id: string;
  state: string;
  reason: string;
}
interface Alert {
  id: string;
  rule: string;
  host: string;
  state: string;
  heals: string[];
}

function proc(pid: number): { rssMiB: number; fds: number } {
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  return { rssMiB: Math.round(rss * 10) / 10, fds: readdirSync(`/proc/${pid}/fd`).length };
}

async function main(): Promise<void> {
  const agentsN = Number(arg('agents', '500'));
  const seconds = Number(arg('seconds', '1800'));
  const rate = Number(arg('faults-per-second', '5'));
  const out = arg('out', 'bench/results/soak.json');
  const fleet = new Fleet();
  const agents: SimAgent[] = [];
  try {
    fleet.rule('soak', 'svc-down', {
      hosts: { role: 'soak' },
      when: { all: [{ fact: 'service', path: '$.svc.up', operator: 'equal', value: false }] },
      // Faults here are random and frequent by design: let every one be healed and none damped.
      heal: { action: 'service.restart', params: { service: 'svc' }, maxPerHour: 100_000, maxConcurrent: '100%', breaker: { failures: 1_000_000 } },
      flap: { changes: 1_000_000 },
    });
    const controller = await fleet.startController({ heal: { maxConcurrent: '100%' } });
    for (let i = 0; i < agentsN; i++) {
      const a = new SimAgent(fleet.url, AGENT_TOKEN, `soak-${i}`, { role: 'soak' }, 10_000);
      a.services.svc = { up: true, since: Date.now() };
      a.healOnRun = true;
      agents.push(a);
    }
    for (let i = 0; i < agents.length; i += 100) await Promise.all(agents.slice(i, i + 100).map((a) => a.connect()));
    const pid = controller.child.pid!;
    const series: { t: number; rssMiB: number; fds: number; heapMiB?: number | null }[] = [];
    const started = Date.now();
    let faults = 0;
    // RSS alone cannot tell a leak from a lazy collector: the V8 heap in use (from the controller's
    // own /metrics) is sampled beside it.
    const heapMiB = async () => {
      const text = await (await fetch(`${fleet.url}/metrics`)).text().catch(() => '');
      const m = /^laas_controller_nodejs_heap_size_used_bytes (\S+)/m.exec(text);
      return m ? Math.round(Number(m[1]) / 1024 / 102.4) / 10 : null;
    };
    const sampler = setInterval(() => {
      const at = { t: Math.round((Date.now() - started) / 1000), ...proc(pid) };
      void heapMiB().then(
        (heap) => series.push({ ...at, heapMiB: heap }),
        () => series.push({ ...at, heapMiB: null }),
      );
    }, 5000);
    try {
      // Like real agents, every simulated agent reports every 10 s (a tenth of them each second),
      // so a connected host never looks silent.
      let tick = 0;
      while (Date.now() - started < seconds * 1000) {
        for (let i = tick++ % 10; i < agents.length; i += 10) agents[i].sample('interval');
        for (let k = 0; k < rate; k++) {
          const a = agents[Math.floor(Math.random() * agents.length)];
          if (a.welcomed && a.services.svc?.up) {
            a.setService('svc', false);
            faults++;
          }
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
      // Every fault ends healed (its alert resolves) or escalated (a final work order with its
      // reason); wait for that, then report whatever is neither instead of throwing it away.
      await waitFor('every alert resolved', async () => (await fleet.api<Alert[]>('/api/v1/alerts?state=firing')).length === 0, 60_000, 500).catch(
        () => undefined,
      );
    } finally {
      clearInterval(sampler);
    }
    series.push({ t: Math.round((Date.now() - started) / 1000), ...proc(pid) });
    const heals = await fleet.api<Heal[]>('/api/v1/heals');
    const by = (s: string) => heals.filter((h) => h.state === s).length;
    const unexplained = heals.filter((h) => h.state === 'skipped' && !h.reason).length;
    const open = heals.filter((h) => h.state === 'dispatched' || h.state === 'awaiting-approval').length;
    const firing = await fleet.api<Alert[]>('/api/v1/alerts?state=firing');
    const finalHeal = (a: Alert) =>
      a.heals
        .map((id) => heals.find((h) => h.id === id))
        .filter((h) => h !== undefined)
        .at(-1);
    // Still firing after the wait: escalated if its last work order ended with a reason, else stuck.
    const escalated = firing.filter((a) => {
      const h = finalHeal(a);
      return h !== undefined && !['dispatched', 'awaiting-approval'].includes(h.state) && h.reason !== '';
    });
    const stuck = firing
      .filter((a) => !escalated.includes(a))
      .map((a) => ({
        alert: a.id,
        rule: a.rule,
        host: a.host,
        heals: a.heals.map((id) => heals.find((h) => h.id === id)).map((h) => h && { id: h.id, state: h.state, reason: h.reason }),
      }));
    const result = {
      bench: 'soak',
      date: new Date().toISOString(),
      agents: agentsN,
      seconds,
      faults,
      workOrders: heals.length,
      succeeded: by('succeeded'),
      failed: by('failed'),
      timedOut: by('timed-out'),
      skipped: by('skipped'),
      open,
      unexplained,
      stillFiring: firing.length,
      escalated: escalated.length,
      stuck,
      // Why orders did not succeed, by the first words of their reason.
      reasons: Object.fromEntries([
        ...heals
          .filter((h) => h.state !== 'succeeded')
          .reduce((m, h) => {
            const k = `${h.state}: ${h.reason.replace(/[0-9a-f-]{36}|soak-\d+|\d+/g, '#').slice(0, 90)}`;
            return m.set(k, (m.get(k) ?? 0) + 1);
          }, new Map<string, number>()),
      ]),
      agentsConnectedAtEnd: agents.filter((a) => a.welcomed).length,
      controller: { first: series[0], last: series.at(-1), maxRssMiB: Math.max(...series.map((s) => s.rssMiB)), maxFds: Math.max(...series.map((s) => s.fds)) },
      series,
    };
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    console.log(
      `soak: ${agentsN} agents, ${seconds}s, ${faults} faults → ${heals.length} work orders ` +
        `(${result.succeeded} succeeded, ${result.failed} failed, ${result.timedOut} timed out, ${result.skipped} skipped, ${open} open); ` +
        `firing at the end ${firing.length} (escalated ${escalated.length}, stuck ${stuck.length}); ` +
        `controller RSS ${result.controller.first?.rssMiB}→${result.controller.last?.rssMiB} MiB (max ${result.controller.maxRssMiB}), ` +
        `fds ${result.controller.first?.fds}→${result.controller.last?.fds}`,
    );
    if (open > 0 || unexplained > 0 || stuck.length > 0 || heals.length < faults) process.exitCode = 1;
  } finally {
    for (const a of agents) a.stop();
    await stopAll();
    await fleet.cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
