import * as v from 'valibot';
import { finiteNumber, freeText, identifier, plainText, record, strictObject, text, wholeNumber } from './schema.js';

// What a sample carries: one schema per fact, each fact optional (an agent sends what it measures).
// Ids and names follow protocol/text.ts; every record and list is bounded so one chatty source
// cannot fill a frame.

const name = identifier(200);
const num = finiteNumber();
const int = wholeNumber();
const count = v.pipe(wholeNumber(), v.minValue(0));

/** A record of at most `max` entries. */
const bounded = <const K extends v.GenericSchema<string, string>, const V extends v.GenericSchema>(key: K, value: V, max: number) =>
  v.pipe(
    record(key, value),
    v.check((r) => Object.keys(r).length <= max, `expected at most ${max} entries`),
  );

/** `cores` and `load1PerCore` (the 1-minute load over the cores the agent may use): absent from agents before 0.1.0's issue 19. */
export const cpuFacts = strictObject({ usage: num, load1: num, load5: num, load15: num, cores: v.optional(num), load1PerCore: v.optional(num) });

export const memoryFacts = strictObject({
  usedPercent: num,
  availableBytes: num,
  totalBytes: num,
  /** Swap: used share of the swap space (0 with no swap), bytes used, pages swapped in per second. */
  swapUsedPercent: v.optional(num),
  swapUsedBytes: v.optional(num),
  swapInPerSec: v.optional(num),
});

export const diskFacts = strictObject({
  usedPercent: num,
  freeBytes: num,
  totalBytes: num,
  /** Inodes used, % (absent on file systems without a fixed inode table). */
  inodesUsedPercent: v.optional(num),
  /** Mounted read-only now (a file system remounted ro after errors reads true). */
  readOnly: v.optional(v.boolean()),
});

export const netFacts = strictObject({
  rxBytesPerSec: num,
  txBytesPerSec: num,
  /** The interface's link is up (operstate). */
  up: v.optional(v.boolean()),
  rxErrorsPerSec: v.optional(num),
  txErrorsPerSec: v.optional(num),
  rxDropsPerSec: v.optional(num),
  txDropsPerSec: v.optional(num),
});

/** Block device I/O, keyed by device name (sda, nvme0n1). */
export const ioFacts = strictObject({
  /** Share of the interval the device was busy, %. */
  utilPercent: num,
  /** Mean time a completed request took (queue and service), ms. */
  awaitMs: num,
  readBytesPerSec: num,
  writeBytesPerSec: num,
});

/** Whole-host facts: each field is left out when the host does not let the agent read it. */
export const systemFacts = strictObject({
  uptimeSec: v.optional(num),
  /** A package update asks for a reboot (/var/run/reboot-required, or needs-restarting). */
  rebootRequired: v.optional(v.boolean()),
  processes: v.optional(count),
  zombies: v.optional(count),
  fdUsed: v.optional(count),
  fdMax: v.optional(count),
  fdUsedPercent: v.optional(num),
  /** Processes the kernel's OOM killer killed since boot (/proc/vmstat oom_kill). */
  oomKills: v.optional(count),
  tcpEstablished: v.optional(count),
  tcpRetransPerSec: v.optional(num),
  /** systemd units in the failed state. */
  failedUnits: v.optional(v.pipe(v.array(plainText(300)), v.maxLength(100))),
  /** The kernel clock is synchronised (adjtimex), and its estimated error. */
  clockSynced: v.optional(v.boolean()),
  clockOffsetMs: v.optional(num),
});

const processEntry = strictObject({
  pid: count,
  name: plainText(200),
  user: plainText(100),
  cpuPercent: num,
  rssBytes: num,
});

/** The top processes by cpu and by memory: who to name when an alert fires. */
export const topFacts = strictObject({
  cpu: v.pipe(v.array(processEntry), v.maxLength(10)),
  memory: v.pipe(v.array(processEntry), v.maxLength(10)),
});

export const serviceFacts = strictObject({
  up: v.boolean(),
  /** Epoch ms of the last change of `up`. */
  since: int,
  detail: v.optional(freeText(500)),
  /** How long the last probe took to answer (http, tcp), ms. */
  latencyMs: v.optional(num),
  /** The HTTP status the last http probe got. */
  status: v.optional(int),
});

/** A Monitoring-Plugins threshold: a number, or a range the plugin printed (`10:20`, `@5`). */
const threshold = v.union([num, plainText(60)]);

export const perfValue = strictObject({
  value: num,
  /** s, ms, us, %, B, KB, MB, GB, TB, c, or '' */
  uom: plainText(10),
  warn: v.optional(threshold),
  crit: v.optional(threshold),
  min: v.optional(num),
  max: v.optional(num),
});

export const CHECK_STATES = ['ok', 'warning', 'critical', 'unknown'] as const;

/** A command check's last run (Monitoring Plugins: exit 0/1/2/3, text, perfdata). */
export const checkFacts = strictObject({
  status: v.pipe(wholeNumber(), v.minValue(0), v.maxValue(3)),
  state: v.picklist(CHECK_STATES),
  /** The first line of the output (or the reason it is unknown). */
  output: freeText(4096),
  /** The lines after the first, if any. */
  longOutput: v.optional(freeText(16_384)),
  perf: bounded(text(200), perfValue, 100),
  durationMs: v.pipe(num, v.minValue(0)),
  /** Epoch ms the run ended. */
  at: count,
});

/**
 * Series scraped from Prometheus exporters (and node_exporter's textfile directory), keyed by
 * source, then by the series written as Prometheus does, labels sorted by name:
 * `nginx_up`, `http_requests_total{code="500",method="get"}`.
 */
export const metricSourceFacts = bounded(text(2000), num, 5000);

export const certFacts = strictObject({
  /** Days until the certificate's notAfter (negative once expired); absent when it could not be read. */
  daysLeft: v.optional(num),
  notAfter: v.optional(count),
  subject: v.optional(plainText(500)),
  issuer: v.optional(plainText(500)),
  error: v.optional(freeText(500)),
});

export const pingFacts = strictObject({
  /** At least one reply came back. */
  up: v.boolean(),
  sent: count,
  received: count,
  lossPercent: num,
  rttMs: v.optional(num),
  rttMaxMs: v.optional(num),
  error: v.optional(freeText(500)),
});

export const dnsFacts = strictObject({
  /** Resolved, and (when an answer was expected) it was among the answers. */
  ok: v.boolean(),
  answers: v.pipe(v.array(plainText(300)), v.maxLength(50)),
  ms: num,
  error: v.optional(freeText(500)),
});

export const logFacts = strictObject({
  /** Matching lines within the window. */
  count: count,
  /** Matching lines since the agent started following the file. */
  total: count,
  lastLine: v.optional(freeText(1000)),
  lastAt: v.optional(count),
  /** Why the file is not being read now (missing, unreadable). */
  error: v.optional(freeText(500)),
});

/** Every fact a sample may carry, by name: the one list agent, controller and docs share. */
export const sampleFacts = {
  cpu: v.optional(cpuFacts),
  memory: v.optional(memoryFacts),
  disk: v.optional(bounded(text(500), diskFacts, 256)),
  net: v.optional(bounded(text(100), netFacts, 512)),
  io: v.optional(bounded(text(100), ioFacts, 256)),
  system: v.optional(systemFacts),
  top: v.optional(topFacts),
  service: v.optional(bounded(name, serviceFacts, 1000)),
  check: v.optional(bounded(name, checkFacts, 500)),
  metric: v.optional(bounded(name, metricSourceFacts, 50)),
  cert: v.optional(bounded(name, certFacts, 200)),
  ping: v.optional(bounded(name, pingFacts, 200)),
  dns: v.optional(bounded(name, dnsFacts, 200)),
  log: v.optional(bounded(name, logFacts, 200)),
};

export type FactName = keyof typeof sampleFacts;
export const FACT_NAMES = Object.keys(sampleFacts) as FactName[];
