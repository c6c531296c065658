/**
 * Fault to heal, measured on real processes: a controller and an agent (child processes), demo
 * HTTP services probed every `--probe` (default 1s), one healed by a plain rule and one by the
 * same rule with every brake on (cooldown, maxConcurrent, breaker, verification, the fleet
 * limit), killed in alternation so both see the same machine. Each run SIGKILLs the service and
 * measures (a) kill → work order dispatched (the controller's dispatchedAt) and (b) kill →
 * the service answering TCP again (polled every 5 ms). Kills are spread at random over the
 * probe period so the probe phase does not bias the result. Also reports idle RSS.
 *
 *   npm run build && node dist/bench/fault-to-heal.js [--runs 10] [--probe 1s] [--out FILE]
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseDuration } from '../protocol/index.js';
import { Fleet } from '../test/helpers/fleet.js';
import { stopAll, tcpAnswers, waitFor } from '../test/helpers/procs.js';

interface Heal {
  id: string;
  state: string;
  dispatchedAt: string | null;
  createdAt: string;
  faultAt: string | null;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
}

function stats(xs: number[]): { min: number; median: number; p90: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  const median = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { min: s[0], median, p90: q(0.9), max: s[s.length - 1] };
}

/** The rules under test: the plain heal, and the same heal with every brake switched on. */
const SCENARIOS = {
  plain: { maxPerHour: 1000 },
  brakes: {
    maxPerHour: 1000,
    cooldown: '100ms',
    maxConcurrent: 1,
    verifyWithin: '10s',
    breaker: { failures: 5, window: '1h', resetAfter: '1m' },
  },
} as const;

async function main(): Promise<void> {
  const runs = Number(arg('runs', '10'));
  const probe = arg('probe', '1s');
  const probeMs = parseDuration(probe)!;
  const out = arg('out', 'bench/results/fault-to-heal.json');
  const fleet = new Fleet();
  try {
    const names = Object.keys(SCENARIOS) as (keyof typeof SCENARIOS)[];
    const svcs = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await fleet.service(n)] as const)));
    for (const n of names) {
      fleet.rule('bench', `${n}-down`, {
        hosts: { role: 'web' },
        when: { all: [{ fact: 'service', path: `$.${n}.up`, operator: 'equal', value: false }] },
        heal: { action: 'service.restart', params: { service: n }, ...SCENARIOS[n] },
        // Ten kills in a few minutes would rightly count as flapping (held firing, and the next
        // kill would then find the alert still open): measure plain healing.
        flap: { changes: 10_000 },
      });
    }
    // The fleet-wide limit is a brake too; it is on (its default) for both rules.
    const controller = await fleet.startController();
    const agent = fleet.startAgent('bench-1', {
      interval: '10s',
      services: names.map((n) => ({ name: n, probe: { tcp: `127.0.0.1:${svcs[n].port}` }, probeInterval: probe, restart: svcs[n].restart })),
    });
    await waitFor('agent connected', async () => (await fleet.api<{ id: string; connected: boolean }[]>('/api/v1/hosts')).some((h) => h.connected));

    // Idle footprint first, after things settle.
    await new Promise((r) => setTimeout(r, 5000));
    const idle = { agentRssMiB: rssMiB(agent.child.pid!), controllerRssMiB: rssMiB(controller.child.pid!) };

    const toDispatch: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    const toAnswer: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    // From the probe that saw the fault (the sample's time) to the instruction leaving the
    // controller: the decision path itself, without the probe's phase.
    const detectToDispatch: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let i = 0; i < runs; i++) {
      // Alternate the scenarios so both see the same machine conditions.
      for (const n of i % 2 ? [...names].reverse() : names) {
        const svc = svcs[n];
        await new Promise((r) => setTimeout(r, 300 + Math.random() * probeMs));
        const known = new Set((await fleet.api<Heal[]>('/api/v1/heals')).map((h) => h.id));
        process.kill(svc.pid(), 'SIGKILL');
        const killedAt = Date.now();
        await waitFor('service gone', async () => !(await tcpAnswers(svc.port)), 2000, 5);
        await waitFor('service answering again', () => tcpAnswers(svc.port), 20_000, 5);
        toAnswer[n].push(Date.now() - killedAt);
        const heal = await waitFor(
          'the work order',
          async () => (await fleet.api<Heal[]>('/api/v1/heals')).find((h) => !known.has(h.id) && h.state === 'succeeded'),
          10_000,
        );
        toDispatch[n].push(Date.parse(heal.dispatchedAt!) - killedAt);
        detectToDispatch[n].push(Date.parse(heal.dispatchedAt!) - Date.parse(heal.faultAt!));
        process.stderr.write(`run ${i + 1}/${runs} ${n}: dispatch ${toDispatch[n].at(-1)} ms, answering ${toAnswer[n].at(-1)} ms\n`);
        await waitFor('alert resolved', async () => (await fleet.api<unknown[]>('/api/v1/alerts?state=firing')).length === 0, 10_000);
      }
    }
    const result = {
      bench: 'fault-to-heal',
      date: new Date().toISOString(),
      node: process.version,
      runs,
      probeInterval: probe,
      scenarios: Object.fromEntries(
        names.map((n) => [
          n,
          { rule: SCENARIOS[n], killToDispatchMs: stats(toDispatch[n]), killToAnsweringMs: stats(toAnswer[n]), detectToDispatchMs: stats(detectToDispatch[n]) },
        ]),
      ),
      idle,
      samples: { toDispatch, toAnswer, detectToDispatch },
    };
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    const f = (s: { median: number; max: number }) => `median ${s.median} ms, worst ${s.max} ms`;
    for (const n of names) {
      const sc = result.scenarios[n];
      console.log(
        `fault-to-heal ${n} (probe ${probe}, ${runs} runs): kill→dispatch ${f(sc.killToDispatchMs)}; kill→answering ${f(sc.killToAnsweringMs)}; detected→dispatch ${f(sc.detectToDispatchMs)}`,
      );
    }
    console.log(`idle RSS: agent ${idle.agentRssMiB} MiB, controller ${idle.controllerRssMiB} MiB`);
  } finally {
    await stopAll();
    await fleet.cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
