import type { Sample } from '../../protocol/index.js';

const GiB = 2 ** 30;

/**
 * The facts of one sample carrying every kind protocol/facts.ts knows, each field filled: what
 * the export tests, the dashboards' e2e test and the benches send. `i` varies the values per host.
 */
export function everyFact(i = 0, now = Date.now()): Omit<Sample, 'seq' | 'ts' | 'trigger'> {
  return {
    cpu: { usage: (i * 7) % 100, load1: 1.5, load5: 1.2, load15: 1, cores: 2, load1PerCore: 0.75 },
    memory: {
      usedPercent: 40 + (i % 50),
      availableBytes: 8 * GiB,
      totalBytes: 16 * GiB,
      swapUsedPercent: 12.5,
      swapUsedBytes: 0.5 * GiB,
      swapInPerSec: 3,
    },
    disk: {
      '/': { usedPercent: 30 + (i % 60), freeBytes: 70 * GiB, totalBytes: 100 * GiB, inodesUsedPercent: 8, readOnly: false },
      '/var/lib/data': { usedPercent: 50, freeBytes: 250 * GiB, totalBytes: 500 * GiB, inodesUsedPercent: 91, readOnly: true },
    },
    net: {
      eth0: { rxBytesPerSec: 1e6, txBytesPerSec: 5e5, up: true, rxErrorsPerSec: 0.5, txErrorsPerSec: 0, rxDropsPerSec: 2, txDropsPerSec: 0 },
      eth1: { rxBytesPerSec: 2e4, txBytesPerSec: 1e4, up: false, rxErrorsPerSec: 0, txErrorsPerSec: 0, rxDropsPerSec: 0, txDropsPerSec: 0 },
    },
    io: { sda: { utilPercent: 35, awaitMs: 4.5, readBytesPerSec: 2e6, writeBytesPerSec: 1e6 } },
    system: {
      uptimeSec: 86_400,
      rebootRequired: true,
      processes: 212,
      zombies: 1,
      fdUsed: 4096,
      fdMax: 65_536,
      fdUsedPercent: 6.25,
      oomKills: 2,
      tcpEstablished: 40,
      tcpRetransPerSec: 0.25,
      failedUnits: ['backup.service'],
      clockSynced: true,
      clockOffsetMs: 1.5,
    },
    top: { cpu: [{ pid: 42, name: 'java', user: 'app', cpuPercent: 80, rssBytes: GiB }], memory: [] },
    service: { nginx: { up: true, since: now, latencyMs: 12, status: 200 }, api: { up: i % 10 !== 0, since: now } },
    check: {
      'disk-root': {
        status: 1,
        state: 'warning',
        output: 'DISK WARNING - free space: / 9%',
        perf: { '/': { value: 1234, uom: 'MB', warn: 900, crit: 950, min: 0, max: 2000 } },
        durationMs: 12,
        at: now,
      },
      load: { status: 0, state: 'ok', output: 'OK - load average: 0.5', perf: { load1: { value: 0.5, uom: '' } }, durationMs: 3, at: now },
    },
    metric: { nginx: { nginx_up: 1, 'nginx_http_requests_total{code="500"}': 7 } },
    cert: { 'www-tls': { daysLeft: 12.5, notAfter: now + 12.5 * 86_400_000, subject: 'CN=www.example.com', issuer: 'CN=Example CA' } },
    ping: { gateway: { up: true, sent: 5, received: 4, lossPercent: 20, rttMs: 0.8, rttMaxMs: 1.6 } },
    dns: { 'www-a': { ok: true, answers: ['192.0.2.10'], ms: 3 } },
    log: { 'app-errors': { count: 3, total: 17, lastLine: 'ERROR db timeout', lastAt: now } },
  };
}
