/**
 * Fault to fix, side by side in one run: laas against Monit and Prometheus + Alertmanager (the
 * Debian packages, run by bench/anchors/*.ts on 127.0.0.1 with their own temp configs), each
 * watching its own instance of the same dummy HTTP service (dist/cli/demo-service.js) with the
 * same start program (bench/anchors/demo-start.sh). Each trial SIGKILLs each tool's service in
 * turn (the order rotates per trial), after a random 0.3–1.3 s pause so kills land at random
 * phases of every tool's cycle, and measures from the kill:
 *
 *   laas (fastest supported settings: tcp probe holding its connection, probeInterval --probe):
 *     → service answering again (TCP connect polled every 5 ms), → heal dispatched (the work
 *     order's dispatchedAt), → first notification at a real HTTP receiver, → fault detected
 *     (the work order's faultAt: the sample time of the probe that saw it)
 *   laas, other probe modes (same agent, each its own service and rule): `pidfile` and `http` with
 *     `"watch": true` and probeInterval 60s (so every detection is the watch's), and plain polling
 *     (tcp, probeInterval 1s, as Monit's daemon 1): → answering again, → detected, start program's run
 *   Monit `set daemon 1`: → answering again, both as `check process … with pidfile` (its usual
 *     form) and as `check host … if failed port … then exec <start>`; (`set daemon 30`, its
 *     shipped default, with --slow)
 *   Prometheus 1 s scrape/eval + Alertmanager group_wait 0: → notification
 *   start program alone (the floor every tool stands on): the bench runs the start program
 *     itself right after the kill, with no detection at all: → answering again
 *
 *   npm run build && node dist/bench/fault-to-fix.js [--trials 10] [--probe 100ms] [--slow] [--out FILE]
 *
 * An anchor whose binary is missing is skipped with the reason — except under CI=true, where
 * it is an error (install them with bench/anchors/install.sh).
 */
import { cpus, loadavg } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Fleet } from '../test/helpers/fleet.js';
import { freePort, stopAll, tcpAnswers, waitFor } from '../test/helpers/procs.js';
import { startReceiver } from '../test/helpers/receiver.js';
import { BINS, demoService, onInterrupt, removeDir, scratch, startDemo, stopAnchors, type DemoService } from './anchors/common.js';
import { startMonit, type Monit } from './anchors/monit.js';
import { answeringAgain, available, firingAfter, stats, type AmPayload, type Heal, type Stats } from './anchors/trials.js';
import { alertName, startPrometheusStack, type PrometheusStack } from './anchors/prometheus.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const flag = (name: string) => process.argv.includes(`--${name}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const trials = Number(arg('trials', '10'));
  const probe = arg('probe', '100ms');
  const out = arg('out', 'bench/results/fault-to-fix.json');
  const slow = flag('slow');
  const dir = scratch('fault-to-fix');
  const fleet = new Fleet();
  const laasReceiver = await startReceiver();
  const amReceiver = await startReceiver();
  const skipped: Record<string, string> = {};
  const stops: (() => Promise<void>)[] = [];
  const services: DemoService[] = [];
  const cleanup = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    await stopAnchors();
    await stopAll();
    for (const s of services) s.kill();
    await laasReceiver.close();
    await amReceiver.close();
    await fleet.cleanup();
    removeDir(dir);
  };
  onInterrupt(cleanup);
  try {
    const svc = async (name: string) => {
      const s = demoService(name, await freePort(), dir);
      services.push(s);
      await startDemo(s);
      return s;
    };
    // laas: a controller and an agent as child processes, the agent at its fastest settings.
    const laasSvc = await svc('laas');
    // The other laas probe modes: a probe a minute apart, so what finds the kill is the watch.
    const modes = {
      pidfileWatch: { svc: await svc('laaspidw'), probe: (s: DemoService) => ({ pidfile: s.pidfile, watch: true }), probeInterval: '60s' },
      httpWatch: { svc: await svc('laashttpw'), probe: (s: DemoService) => ({ http: `http://127.0.0.1:${s.port}/`, watch: true }), probeInterval: '60s' },
      tcpPolling1s: { svc: await svc('laaspoll'), probe: (s: DemoService) => ({ tcp: `127.0.0.1:${s.port}` }), probeInterval: '1s' },
    };
    for (const name of ['laas', ...Object.values(modes).map((m) => m.svc.name)]) {
      fleet.rule('bench', `${name}-down`, {
        when: { all: [{ fact: 'service', path: `$.${name}.up`, operator: 'equal', value: false }] },
        heal: { action: 'service.restart', params: { service: name }, maxPerHour: 10_000 },
        ...(name === 'laas' ? { notify: ['ops'] } : {}),
        // Many kills in a few minutes would rightly count as flapping (held firing): measure plain paging.
        flap: { changes: 10_000 },
      });
    }
    await fleet.startController({ receivers: { ops: { type: 'webhook', url: laasReceiver.url } } });
    const agent = fleet.startAgent('bench-1', {
      interval: '10s',
      services: [
        { name: 'laas', probe: { tcp: `127.0.0.1:${laasSvc.port}`, hold: true }, probeInterval: probe, restart: laasSvc.start },
        ...Object.values(modes).map((m) => ({ name: m.svc.name, probe: m.probe(m.svc), probeInterval: m.probeInterval, restart: m.svc.start })),
      ],
    });
    stops.push(async () => {
      await agent.stop();
    });
    await waitFor('agent connected', async () => (await fleet.api<{ connected: boolean }[]>('/api/v1/hosts')).some((h) => h.connected));

    let monit: Monit | undefined;
    let monitPort: Monit | undefined;
    let monitSlow: Monit | undefined;
    let prom: PrometheusStack | undefined;
    const monitSvc = available('monit', [BINS.monit], skipped) ? await svc('monit1') : undefined;
    if (monitSvc) {
      monit = await startMonit({ daemonSeconds: 1, services: [monitSvc] });
      stops.push(() => monit!.stop());
    }
    const monitPortSvc = monitSvc ? await svc('monit1port') : undefined;
    if (monitPortSvc) {
      monitPort = await startMonit({ daemonSeconds: 1, services: [monitPortSvc], check: 'port' });
      stops.push(() => monitPort!.stop());
    }
    const monitSlowSvc = slow && available('monit-30', [BINS.monit], skipped) ? await svc('monit30') : undefined;
    if (monitSlowSvc) {
      monitSlow = await startMonit({ daemonSeconds: 30, services: [monitSlowSvc] });
      stops.push(() => monitSlow!.stop());
    }
    const promSvc = available('prometheus', [BINS.prometheus, BINS.alertmanager], skipped) ? await svc('prom') : undefined;
    if (promSvc) {
      prom = await startPrometheusStack({ services: [promSvc], receiverUrl: amReceiver.url });
      stops.push(() => prom!.stop());
    }
    // Let every tool see its service up before the first kill.
    await sleep(3000);

    const laasFig = {
      killToAnsweringMs: [] as number[],
      killToDispatchMs: [] as number[],
      killToNotificationMs: [] as number[],
      killToDetectedMs: [] as number[],
      // Where the time goes: the instruction's trip to the agent, and the start program's own run.
      dispatchToActionStartMs: [] as number[],
      startProgramMs: [] as number[],
    };
    const modeFig = Object.fromEntries(
      Object.keys(modes).map((k) => [k, { killToAnsweringMs: [] as number[], killToDetectedMs: [] as number[], startProgramMs: [] as number[] }]),
    );
    const monitFig = { killToAnsweringMs: [] as number[] };
    const monitPortFig = { killToAnsweringMs: [] as number[] };
    const monitSlowFig = { killToAnsweringMs: [] as number[] };
    const promFig = { killToNotificationMs: [] as number[] };
    const floorFig = { killToAnsweringMs: [] as number[] };
    const floorSvc = await svc('floor');
    const promAlert = promSvc ? alertName(promSvc.name) : '';

    const trialsOf: Record<string, () => Promise<string>> = {
      floor: async () => {
        floorSvc.kill();
        const killedAt = Date.now();
        await waitFor('service gone', async () => !(await tcpAnswers(floorSvc.port)), 2000, 2);
        await startDemo(floorSvc); // returns once it answers
        floorFig.killToAnsweringMs.push(Date.now() - killedAt);
        return `answering ${floorFig.killToAnsweringMs.at(-1)} ms`;
      },
      laas: async () => {
        await waitFor('no laas alert firing', async () => (await fleet.api<unknown[]>('/api/v1/alerts?state=firing')).length === 0, 20_000);
        const known = new Set((await fleet.api<Heal[]>('/api/v1/heals')).map((h) => h.id));
        laasSvc.kill();
        const killedAt = Date.now();
        laasFig.killToAnsweringMs.push(await answeringAgain(laasSvc.port, killedAt, 20_000));
        const heal = await waitFor(
          'the work order',
          async () => (await fleet.api<Heal[]>('/api/v1/heals')).find((h) => !known.has(h.id) && h.dispatchedAt && h.result),
          10_000,
        );
        laasFig.killToDispatchMs.push(Date.parse(heal.dispatchedAt!) - killedAt);
        laasFig.dispatchToActionStartMs.push(heal.result!.startedAt - Date.parse(heal.dispatchedAt!));
        laasFig.startProgramMs.push(Math.round(heal.result!.durationMs));
        laasFig.killToDetectedMs.push(Date.parse(heal.faultAt!) - killedAt);
        const paged = await waitFor('laas notification', () => firingAfter(laasReceiver, killedAt, () => true), 10_000, 5);
        laasFig.killToNotificationMs.push(paged - killedAt);
        return (
          `answering ${laasFig.killToAnsweringMs.at(-1)} ms, dispatch ${laasFig.killToDispatchMs.at(-1)} ms ` +
          `(+${laasFig.dispatchToActionStartMs.at(-1)} ms to the agent, start program ${laasFig.startProgramMs.at(-1)} ms), notified ${laasFig.killToNotificationMs.at(-1)} ms`
        );
      },
      ...Object.fromEntries(
        Object.entries(modes).map(([k, m]) => [
          k,
          async () => {
            const fig = modeFig[k];
            await waitFor('no alert firing', async () => (await fleet.api<unknown[]>('/api/v1/alerts?state=firing')).length === 0, 20_000);
            const known = new Set((await fleet.api<Heal[]>('/api/v1/heals')).map((h) => h.id));
            m.svc.kill();
            const killedAt = Date.now();
            fig.killToAnsweringMs.push(await answeringAgain(m.svc.port, killedAt, 20_000));
            const heal = await waitFor(
              'the work order',
              async () => (await fleet.api<Heal[]>('/api/v1/heals')).find((h) => !known.has(h.id) && h.dispatchedAt && h.result),
              10_000,
            );
            fig.startProgramMs.push(Math.round(heal.result!.durationMs));
            fig.killToDetectedMs.push(Date.parse(heal.faultAt!) - killedAt);
            return `answering ${fig.killToAnsweringMs.at(-1)} ms (detected ${fig.killToDetectedMs.at(-1)} ms, start program ${fig.startProgramMs.at(-1)} ms)`;
          },
        ]),
      ),
      ...(monitSvc
        ? {
            monit1: async () => {
              monitSvc.kill();
              const killedAt = Date.now();
              monitFig.killToAnsweringMs.push(await answeringAgain(monitSvc.port, killedAt, 20_000));
              return `answering ${monitFig.killToAnsweringMs.at(-1)} ms`;
            },
          }
        : {}),
      ...(monitPortSvc
        ? {
            monit1port: async () => {
              monitPortSvc.kill();
              const killedAt = Date.now();
              monitPortFig.killToAnsweringMs.push(await answeringAgain(monitPortSvc.port, killedAt, 20_000));
              return `answering ${monitPortFig.killToAnsweringMs.at(-1)} ms`;
            },
          }
        : {}),
      ...(monitSlowSvc
        ? {
            monit30: async () => {
              monitSlowSvc.kill();
              const killedAt = Date.now();
              monitSlowFig.killToAnsweringMs.push(await answeringAgain(monitSlowSvc.port, killedAt, 120_000));
              return `answering ${monitSlowFig.killToAnsweringMs.at(-1)} ms`;
            },
          }
        : {}),
      ...(promSvc
        ? {
            prometheus: async () => {
              promSvc.kill();
              const killedAt = Date.now();
              const at = await waitFor(
                'Alertmanager notification',
                () => firingAfter(amReceiver, killedAt, (p) => p.alerts.some((a) => a.labels.alertname === promAlert && a.status === 'firing')),
                30_000,
                5,
              );
              promFig.killToNotificationMs.push(at - killedAt);
              // Nobody heals it here: start it again, and wait for the resolved notice so the next
              // trial's alert opens a new group (group_wait, not group_interval, applies to it).
              const back = Date.now();
              await startDemo(promSvc);
              await waitFor(
                'Alertmanager resolved notice',
                () => amReceiver.received.some((r) => r.at >= back && (r.body as AmPayload).status === 'resolved'),
                30_000,
                20,
              );
              return `notified ${promFig.killToNotificationMs.at(-1)} ms`;
            },
          }
        : {}),
    };
    const tools = Object.keys(trialsOf);
    for (let i = 0; i < trials; i++) {
      // Rotate the order so no tool always runs right after the same other one.
      const order = tools.map((_, k) => tools[(k + i) % tools.length]);
      for (const t of order) {
        await sleep(300 + Math.random() * 1000);
        const line = await trialsOf[t]();
        process.stderr.write(`trial ${i + 1}/${trials} ${t}: ${line}\n`);
      }
    }

    const figures = {
      startProgramAlone: { settings: 'no tool: the bench runs the start program right after the kill', killToAnsweringMs: stats(floorFig.killToAnsweringMs) },
      laas: {
        settings: { probe: { tcp: 'held connection', probeInterval: probe }, interval: '10s', rule: 'for 0s, service.restart, webhook' },
        ...Object.fromEntries(Object.entries(laasFig).map(([k, v]) => [k, stats(v)])),
      },
      ...Object.fromEntries(
        Object.entries(modes).map(([k, m]) => [
          `laas_${k}`,
          {
            settings: { probe: m.probe(m.svc), probeInterval: m.probeInterval },
            ...Object.fromEntries(Object.entries(modeFig[k]).map(([f, v]) => [f, stats(v)])),
          },
        ]),
      ),
      ...(monitSvc
        ? { monitDaemon1: { settings: 'set daemon 1; check process with pidfile; same start program', killToAnsweringMs: stats(monitFig.killToAnsweringMs) } }
        : {}),
      ...(monitPortSvc
        ? {
            monitDaemon1Port: {
              settings: 'set daemon 1; check host, if failed port then exec the same start program',
              killToAnsweringMs: stats(monitPortFig.killToAnsweringMs),
            },
          }
        : {}),
      ...(monitSlowSvc ? { monitDaemon30: { settings: 'set daemon 30 (the shipped default)', killToAnsweringMs: stats(monitSlowFig.killToAnsweringMs) } } : {}),
      ...(promSvc
        ? { prometheusAlertmanager: { settings: 'scrape 1s, evaluation 1s, for 0s, group_wait 0s', killToNotificationMs: stats(promFig.killToNotificationMs) } }
        : {}),
    } as Record<string, Record<string, unknown>>;
    const laasAnswer = stats(laasFig.killToAnsweringMs);
    const monitAnswer = monitSvc ? stats(monitFig.killToAnsweringMs) : undefined;
    const monitPortAnswer = monitPortSvc ? stats(monitPortFig.killToAnsweringMs) : undefined;
    // The target is judged against Monit's faster form on this host, whichever it was.
    const monitBest = monitAnswer && monitPortAnswer ? Math.min(monitAnswer.median, monitPortAnswer.median) : undefined;
    const targets = {
      answeringMedianAtMostHalfOfMonit:
        monitBest !== undefined ? { laasMs: laasAnswer.median, monitBestMs: monitBest, met: laasAnswer.median <= monitBest / 2 } : { skipped: skipped.monit },
      dispatchP99Under1s: { ms: stats(laasFig.killToDispatchMs).p99, met: stats(laasFig.killToDispatchMs).p99 < 1000 },
      notificationP99Under1s: { ms: stats(laasFig.killToNotificationMs).p99, met: stats(laasFig.killToNotificationMs).p99 < 1000 },
    };
    const result = {
      bench: 'fault-to-fix',
      date: new Date().toISOString(),
      node: process.version,
      machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg() },
      trials,
      figures,
      targets,
      skipped,
      samples: {
        startProgramAlone: floorFig,
        laas: laasFig,
        ...Object.fromEntries(Object.entries(modeFig).map(([k, v]) => [`laas_${k}`, v])),
        monitDaemon1: monitFig,
        monitDaemon1Port: monitPortFig,
        monitDaemon30: monitSlowFig,
        prometheusAlertmanager: promFig,
      },
    };
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    const f = (s: Stats) => `median ${s.median} / p99 ${s.p99} ms`;
    console.log(
      [
        `fault-to-fix (${trials} trials): start program alone ${f(stats(floorFig.killToAnsweringMs))}; laas answering ${f(laasAnswer)}, ` +
          `dispatch ${f(stats(laasFig.killToDispatchMs))}, notified ${f(stats(laasFig.killToNotificationMs))}`,
        ...Object.entries(modeFig).map(
          ([k, v]) =>
            `laas ${k} answering ${f(stats(v.killToAnsweringMs))} (detected ${f(stats(v.killToDetectedMs))}, start program ${f(stats(v.startProgramMs))})`,
        ),
        monitAnswer ? `Monit daemon 1 answering ${f(monitAnswer)} (pidfile check), ${f(monitPortAnswer!)} (port check)` : 'Monit skipped',
        monitSlowSvc ? `Monit daemon 30 answering ${f(stats(monitSlowFig.killToAnsweringMs))}` : undefined,
        promSvc ? `Prometheus+Alertmanager notified ${f(stats(promFig.killToNotificationMs))}` : 'Prometheus skipped',
      ]
        .filter(Boolean)
        .join('; '),
    );
  } finally {
    await cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
