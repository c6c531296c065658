import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServiceConfig } from '../../../agent/config.js';
import type { ProbeResult } from '../../../agent/probes/index.js';
import { ServiceWatcher } from '../../../agent/services.js';
import { silentLogger, type ServiceFacts } from '../../../protocol/index.js';

const watchers: ServiceWatcher[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const w of watchers.splice(0)) w.stop();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function tcpService(name: string, port: number, probeIntervalMs = 100): ServiceConfig {
  return { name, probe: { kind: 'tcp', target: `127.0.0.1:${port}` }, probeIntervalMs, probeTimeoutMs: 500 };
}

function watch(services: ServiceConfig[], extra: Partial<ConstructorParameters<typeof ServiceWatcher>[0]> = {}) {
  const changes: { name: string; facts: ServiceFacts; at: number }[] = [];
  const w = new ServiceWatcher({ services, log: silentLogger, onChange: (name, facts) => changes.push({ name, facts, at: Date.now() }), ...extra });
  watchers.push(w);
  return { w, changes };
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('ServiceWatcher', () => {
  it('reports the first state at once, then a server that closes within about one probe interval', async () => {
    const server = createServer((s) => s.end());
    const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)));
    const { w, changes } = watch([tcpService('demo', port)]);
    w.start();
    await until(() => changes.length === 1);
    expect(changes[0]).toMatchObject({ name: 'demo', facts: { up: true } });
    expect(w.snapshot()).toEqual({ demo: { up: true, since: changes[0].facts.since } });

    // A few more probes that see no change must not report anything.
    await new Promise((r) => setTimeout(r, 350));
    expect(changes).toHaveLength(1);

    const closedAt = Date.now();
    await new Promise((r) => server.close(r));
    await until(() => changes.length === 2);
    expect(changes[1]).toMatchObject({ name: 'demo', facts: { up: false, detail: 'ECONNREFUSED' } });
    // One probe interval (100ms) plus slack for a busy machine; the sample interval would be 10s.
    expect(changes[1].at - closedAt).toBeLessThan(100 + 300);
    expect(w.snapshot().demo).toEqual(changes[1].facts);
    expect(changes[1].facts.since).toBeGreaterThanOrEqual(closedAt);
  });

  it('never overlaps probes of one service and reports nothing after stop', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let calls = 0;
    let release: (() => void) | undefined;
    const slow = async (): Promise<ProbeResult> => {
      calls++;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise<void>((r) => {
        release = r;
        setTimeout(r, 30);
      });
      inFlight--;
      return { up: calls % 2 === 0 };
    };
    const { w, changes } = watch([tcpService('slow', 1, 100)], {
      probes: { tcp: slow, http: slow, systemd: slow, process: slow, pidfile: slow },
    });
    w.start();
    await Promise.all([w.probeNow('slow'), w.probeNow(), w.probeNow('slow')]);
    await until(() => calls >= 3);
    expect(maxInFlight).toBe(1);

    // Stop while a probe is in flight: its result must not be reported.
    await until(() => inFlight === 1);
    const seen = changes.length;
    const callsAtStop = calls;
    w.stop();
    release!();
    await new Promise((r) => setTimeout(r, 250));
    expect(changes).toHaveLength(seen);
    expect(calls).toBe(callsAtStop);
  });

  it('takes the time of a change from the injected clock and keeps it while the state holds', async () => {
    let t = 1_700_000_000_000;
    let up = true;
    const probe = async (): Promise<ProbeResult> => (up ? { up } : { up, detail: 'nope' });
    const { w, changes } = watch([tcpService('svc', 1, 100)], {
      now: () => t,
      probes: { tcp: probe, http: probe, systemd: probe, process: probe, pidfile: probe },
    });
    w.start();
    await until(() => changes.length === 1);
    t += 5000;
    await w.probeNow('svc');
    expect(w.snapshot().svc).toEqual({ up: true, since: 1_700_000_000_000 });
    up = false;
    t += 5000;
    await w.probeNow('svc');
    expect(changes.map((c) => c.facts)).toEqual([
      { up: true, since: 1_700_000_000_000 },
      { up: false, since: 1_700_000_010_000, detail: 'nope' },
    ]);
  });

  it('turns a probe that throws into "down" and keeps going', async () => {
    const broken = async (): Promise<ProbeResult> => {
      throw new Error('boom');
    };
    const { w, changes } = watch([tcpService('b', 1, 100)], { probes: { tcp: broken, http: broken, systemd: broken, process: broken, pidfile: broken } });
    w.start();
    await until(() => changes.length === 1);
    expect(changes[0].facts).toMatchObject({ up: false, detail: 'tcp probe failed: boom' });
  });
});
