import { afterEach, describe, expect, it } from 'vitest';
import type { ServiceConfig } from '../../../agent/config.js';
import type { Probe, ProbeResult } from '../../../agent/probes/index.js';
import { ServiceWatcher } from '../../../agent/services.js';
import { silentLogger, type ServiceFacts } from '../../../protocol/index.js';
import { waitFor } from '../../helpers/procs.js';

const watchers: ServiceWatcher[] = [];
afterEach(() => {
  for (const w of watchers.splice(0)) w.stop();
});

describe('ServiceWatcher with a probe that throws instead of rejecting', () => {
  it('reports the service down with the reason, keeps probing it, and probeNow() still resolves', async () => {
    let calls = 0;
    // Breaks the Probe contract ("never throws") on its first call only, synchronously.
    const flaky: Probe = (): Promise<ProbeResult> => {
      calls++;
      if (calls === 1) throw new Error('probe exploded');
      return Promise.resolve({ up: true });
    };
    const service: ServiceConfig = { name: 'svc', probe: { kind: 'tcp', target: '127.0.0.1:1' }, probeIntervalMs: 50, probeTimeoutMs: 500 };
    const changes: { name: string; facts: ServiceFacts }[] = [];
    const w = new ServiceWatcher({
      services: [service],
      log: silentLogger,
      onChange: (name, facts) => changes.push({ name, facts }),
      probes: { tcp: flaky, http: flaky, systemd: flaky, process: flaky, pidfile: flaky },
    });
    watchers.push(w);

    w.start();
    await waitFor('the failed look reported', () => changes.length >= 1, 5000, 10);
    expect(changes[0]).toMatchObject({ name: 'svc', facts: { up: false, detail: 'tcp probe failed: probe exploded' } });

    // The next tick still comes: the service is watched on, and is seen up again.
    await waitFor('the service seen up again', () => changes.length >= 2, 5000, 10);
    expect(changes[1]).toMatchObject({ name: 'svc', facts: { up: true } });
    await expect(w.probeNow('svc')).resolves.toBeUndefined();
    expect(calls).toBeGreaterThanOrEqual(3);
  });
});
