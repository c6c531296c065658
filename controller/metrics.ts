import { readdir, stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { FACT_FAMILIES } from './fact-series.js';
import { FactsMetrics, type FactsLimits } from './facts-metrics.js';
import { HostGauge } from './host-gauge.js';

/**
 * Every metric the controller exports, in one place: dashboards may use only names defined
 * here (test/unit/dashboards.test.ts checks it). Names are `laas_<subsystem>_<name>_<unit|total>`.
 *
 * Labels are bounded: host ids (only hosts the registry knows, i.e. that passed the agent
 * token), rule names (from files), receivers and actions (from config), and fixed enums —
 * never alert or work-order ids or free text. The per-host fact families are listed in
 * fact-series.ts (shared with remote-write) and registered here; their series are capped per
 * host (mounts, interfaces, services, checks…) and dropped for hosts silent past
 * `staleAfterMs`: see facts-metrics.ts.
 */
export function createMetrics(opts: { clock?: () => number; facts?: Partial<FactsLimits> } = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'laas_controller_' });
  const r = { registers: [registry] };
  withoutBlockingDefaults(registry, r);
  const scrapeBlock = new Gauge({
    name: 'laas_controller_metrics_scrape_block_seconds',
    help: 'The longest the previous /metrics scrape held the event loop in one go (it is built in slices)',
    ...r,
  });
  const hostUp = new HostGauge('laas_host_up', '1 when the host reports within its deadline, 0 when it is down', registry);
  // The latest facts each host reported, one gauge per fact in base units: the names are in
  // fact-series.ts, one table with remote-write (export/), so both send the same series.
  const hostFacts = new Map<string, Gauge<string>>(
    FACT_FAMILIES.map((f, i) => [
      f.name,
      new Gauge({
        name: f.name,
        help: f.help,
        labelNames: ['host', ...f.labels],
        // The first fact gauge runs the scrape-time prune, before the others are read.
        ...(i === 0 ? { collect: () => facts.prune() } : {}),
        ...r,
      }),
    ]),
  );
  const factsCapped = new Counter({
    name: 'laas_host_facts_capped_total',
    help: 'Hosts, or mounts, interfaces, devices, services, checks, perf values, certs, pings, dns, logs or sources left out of /metrics because their host is at its cap, by kind (counted per sample)',
    labelNames: ['kind'],
    ...r,
  });
  // The whole fleet in a few series, whatever its size (the per-host facts stop at the cap).
  const stat = { labelNames: ['stat'] as const, ...r };
  const fleet = {
    hostsReporting: new Gauge({ name: 'laas_fleet_hosts_reporting', help: 'Hosts that sent a sample within the stale limit', ...r }),
    hostsWithoutSeries: new Gauge({
      name: 'laas_fleet_hosts_without_fact_series',
      help: 'Reporting hosts past the per-host series cap: in the laas_fleet_* summary only',
      ...r,
    }),
    cpuUsage: new Gauge({ name: 'laas_fleet_cpu_usage_percent', help: 'CPU busy over reporting hosts, by stat (mean, min, max)', ...stat }),
    memoryUsed: new Gauge({ name: 'laas_fleet_memory_used_percent', help: 'Memory in use over reporting hosts, by stat (mean, min, max)', ...stat }),
    diskUsed: new Gauge({
      name: 'laas_fleet_disk_used_percent',
      help: 'Fullest filesystem of each reporting host, by stat over hosts (mean, min, max)',
      ...stat,
    }),
    servicesDown: new Gauge({ name: 'laas_fleet_services_down', help: 'Watched services reported down, summed over reporting hosts', ...r }),
  };
  const facts: FactsMetrics = new FactsMetrics({ gauges: hostFacts, hostUp, capped: factsCapped, fleet, clock: opts.clock, limits: opts.facts });
  return {
    registry,
    /** The /metrics text, built one metric family at a time so a scrape never holds the event loop for long. */
    text: async () => {
      const parts: string[] = [];
      for await (const part of exposition(registry, scrapeBlock)) parts.push(part);
      return parts.join('');
    },
    /** The same text as a stream of parts, to send as it is made (no 3 MB string at 20k hosts). */
    stream: () => exposition(registry, scrapeBlock),
    hostUp,
    hostFacts,
    /** Turns each sample into the per-host gauges above; Core.sample() calls it. */
    facts,
    // Remote-write of host facts (controller/export/), by target URL (credentials left out).
    remoteWrite: {
      sent: new Counter({
        name: 'laas_remote_write_sent_samples_total',
        help: 'Host fact samples the remote-write receiver accepted',
        labelNames: ['remote'],
        ...r,
      }),
      failed: new Counter({
        name: 'laas_remote_write_failed_samples_total',
        help: 'Host fact samples the receiver refused for good (a 4xx other than 429), not retried',
        labelNames: ['remote'],
        ...r,
      }),
      dropped: new Counter({
        name: 'laas_remote_write_dropped_samples_total',
        help: "Host fact samples dropped unsent: the oldest, past the queue bound while the receiver was slow or down, or past a host's maxSeriesPerHost",
        labelNames: ['remote'],
        ...r,
      }),
      retries: new Counter({
        name: 'laas_remote_write_retries_total',
        help: 'Remote-write requests retried after a 5xx, 429 or network error',
        labelNames: ['remote'],
        ...r,
      }),
      queued: new Gauge({
        name: 'laas_remote_write_queue_samples',
        help: 'Host fact samples waiting to be sent, the request in flight included',
        labelNames: ['remote'],
        ...r,
      }),
    },
    agentsConnected: new Gauge({ name: 'laas_link_agents_connected', help: 'Agents with an open link', ...r }),
    framesReceived: new Counter({ name: 'laas_link_frames_received_total', help: 'Frames received from agents, by message type', labelNames: ['type'], ...r }),
    framesRejected: new Counter({
      name: 'laas_link_frames_rejected_total',
      help: 'Frames refused as malformed or unexpected, by error code',
      labelNames: ['code'],
      ...r,
    }),
    upgradesRejected: new Counter({
      name: 'laas_link_upgrades_rejected_total',
      help: 'Agent connections refused at the upgrade, by reason',
      labelNames: ['reason'],
      ...r,
    }),
    hostLastSeen: new HostGauge('laas_host_last_seen_timestamp_seconds', 'When the host last reported', registry),
    samplesReceived: new Counter({ name: 'laas_samples_received_total', help: 'Samples received, by trigger', labelNames: ['trigger'], ...r }),
    samplesLate: new Counter({
      name: 'laas_samples_late_total',
      help: 'Samples kept out of rule evaluation because they tell the past: buffered by the agent during an outage, or older than one already seen',
      labelNames: ['reason'],
      ...r,
    }),
    framesDropped: new Counter({
      name: 'laas_link_frames_dropped_total',
      help: 'Frames from agents dropped unread, by reason (rate-limit: over the per-connection frame budget; queue-full: read past twice the queue bound)',
      labelNames: ['reason'],
      ...r,
    }),
    framesQueued: new Gauge({ name: 'laas_link_frames_queued', help: 'Frames read from agents and waiting for their handler, over all connections', ...r }),
    readsPaused: new Counter({
      name: 'laas_link_reads_paused_total',
      help: 'Times reading from an agent connection paused because its queue of unhandled frames was full (back-pressure)',
      ...r,
    }),
    peersCut: new Counter({
      name: 'laas_link_peers_cut_total',
      help: 'Agent connections the controller cut off, by reason (not-answering pings, not-reading, flooding)',
      labelNames: ['reason'],
      ...r,
    }),
    rulesLoaded: new Gauge({ name: 'laas_rules_loaded', help: 'Rules in the active rule set', ...r }),
    rulesReloads: new Counter({ name: 'laas_rules_reloads_total', help: 'Rule set reloads, by outcome', labelNames: ['outcome'], ...r }),
    configReloads: new Counter({
      name: 'laas_config_reloads_total',
      help: 'controller.json reloads (SIGHUP, POST /api/v1/config/reload), by outcome',
      labelNames: ['outcome'],
      ...r,
    }),
    // From the sample's own timestamp (agent clock; same machine in the bench) to the end of its
    // rule evaluation and alert/heal decisions: includes time queued in the socket and event loop.
    sampleDecisionSeconds: new Histogram({
      name: 'laas_controller_sample_decision_seconds',
      help: 'From a sample being taken (its ts) to the end of the decisions on it; samples with a clock off by over 60 s are not counted',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 30],
      ...r,
    }),
    rulesNotEnoughData: new Counter({
      name: 'laas_rules_not_enough_data_total',
      help: 'Verdicts that were false only because a windowed condition lacked data (window not yet full, too few points), by rule',
      labelNames: ['rule'],
      ...r,
    }),
    ruleWindowSeries: new Gauge({ name: 'laas_rules_window_series', help: 'Series kept for windowed conditions (per host, path and key)', ...r }),
    ruleWindowBytes: new Gauge({ name: 'laas_rules_window_bytes', help: 'Bytes of points held for windowed conditions (16 per point, as allocated)', ...r }),
    ruleEvalSeconds: new Histogram({
      name: 'laas_rules_evaluation_seconds',
      help: 'Time to evaluate one sample against the rules selecting its host',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      ...r,
    }),
    alertsActive: new Gauge({
      name: 'laas_alerts_active',
      help: 'Alerts not resolved, by rule, severity and state',
      labelNames: ['rule', 'severity', 'state'],
      ...r,
    }),
    alertTransitions: new Counter({
      name: 'laas_alerts_transitions_total',
      help: 'Alert state changes, by rule and new state',
      labelNames: ['rule', 'state'],
      ...r,
    }),
    healActions: new Counter({
      name: 'laas_heal_actions_total',
      help: 'Work orders reaching a final state, by rule, action and outcome',
      labelNames: ['rule', 'action', 'outcome'],
      ...r,
    }),
    healDispatched: new Counter({
      name: 'laas_heal_dispatched_total',
      help: 'Instructions sent to agents, by rule and action',
      labelNames: ['rule', 'action'],
      ...r,
    }),
    faultToDispatchSeconds: new Histogram({
      name: 'laas_heal_fault_to_dispatch_seconds',
      help: 'From the sample that showed the fault to the instruction being sent',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      ...r,
    }),
    healDurationSeconds: new Histogram({
      name: 'laas_heal_duration_seconds',
      help: 'From dispatch to the agent result',
      labelNames: ['action'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      ...r,
    }),
    healSkipped: new Counter({ name: 'laas_heal_skipped_total', help: 'Heals a brake stopped, by rule and brake', labelNames: ['rule', 'reason'], ...r }),
    healShadow: new Counter({
      name: 'laas_heal_shadow_total',
      help: 'Heals recorded but not run because the rule is in shadow mode',
      labelNames: ['rule'],
      ...r,
    }),
    healEscalations: new Counter({
      name: 'laas_heal_escalations_total',
      help: 'Work orders that failed or timed out and were handed to people',
      labelNames: ['rule'],
      ...r,
    }),
    breakersOpen: new Gauge({ name: 'laas_heal_breakers_open', help: 'Circuit breakers open (rule and host pairs with automatic heals stopped)', ...r }),
    approvalsPending: new Gauge({ name: 'laas_heal_approvals_pending', help: 'Work orders waiting for a person to approve them', ...r }),
    healPaused: new Gauge({ name: 'laas_heal_paused', help: '1 while automatic heals are paused fleet-wide', ...r }),
    schedulesRun: new Counter({ name: 'laas_schedule_runs_total', help: 'Scheduled rule runs, by rule and outcome', labelNames: ['rule', 'outcome'], ...r }),
    notifyAttempts: new Counter({
      name: 'laas_notify_attempts_total',
      help: 'Notification delivery attempts, by receiver and outcome',
      labelNames: ['receiver', 'outcome'],
      ...r,
    }),
    storeWriteSeconds: new Histogram({
      name: 'laas_store_write_seconds',
      help: 'Time to write the embedded store to disk',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      ...r,
    }),
    storeWriteErrors: new Counter({ name: 'laas_store_write_errors_total', help: 'Failed store writes (the data stays in memory and is written again)', ...r }),
    // Identity and the database trust boundary (issue 16).
    hellosRefused: new Counter({
      name: 'laas_link_hellos_refused_total',
      help: 'Agent hellos refused for the agent id they claim, by reason (enrolled, revoked, not-allowed, claimed, host-limit)',
      labelNames: ['reason'],
      ...r,
    }),
    clusterMessagesRejected: new Counter({
      name: 'laas_cluster_messages_rejected_total',
      help: "Messages on the controllers' channel dropped as not from a controller with the cluster secret, by reason (bad-mac, stale, replayed, malformed)",
      labelNames: ['reason'],
      ...r,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Three of prom-client's default metrics list every handle the process holds, synchronously, on
 * each scrape: process_open_fds (readdirSync of /proc/self/fd), nodejs_active_handles
 * (process._getActiveHandles()) and nodejs_active_resources (getActiveResourcesInfo()). With
 * 20,000 agent sockets each is 20–90 ms of blocked event loop per scrape (measured with
 * bench/controller-scale.ts). The open-fd count is kept, read from the size Linux (6.2+) reports for
 * /proc/self/fd, else listed, off the event loop; the handle and resource counts are dropped —
 * laas_link_agents_connected counts the sockets that matter.
 */
function withoutBlockingDefaults(registry: Registry, r: { registers: Registry[] }): void {
  const prefix = 'laas_controller_';
  for (const name of ['process_open_fds', 'nodejs_active_handles', 'nodejs_active_handles_total', 'nodejs_active_resources', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(prefix + name);
  }
  // Counted off the event loop after each scrape, shown at the next: collect() stays synchronous,
  // so the scrape's slices (and laas_controller_metrics_scrape_block_seconds) are pure CPU time.
  const count = async () => {
    const size = (await stat('/proc/self/fd')).size;
    return size > 0 ? size : (await readdir('/proc/self/fd')).length;
  };
  let open: number | undefined;
  const refresh = () =>
    count().then(
      (n) => {
        open = n;
      },
      () => {
        /* not Linux: no /proc */
      },
    );
  void refresh();
  const fds: Gauge = new Gauge({
    name: `${prefix}process_open_fds`,
    help: 'Number of open file descriptors (as of the previous scrape).',
    ...r,
    collect() {
      if (open !== undefined) fds.set(open);
      void refresh();
    },
  });
}

/**
 * Registry.metrics() formats every family in one go (a chain of microtasks: nothing else runs
 * until it is done — ~0.4 s at 100k series). This yields each family (and each slice of a large
 * gauge) as its own part, going back to the event loop between parts, so samples keep flowing
 * during a large scrape; the parts joined are Registry.metrics()'s text. The longest stretch it
 * held the loop is recorded in `block` for the next scrape to show.
 */
async function* exposition(registry: Registry, block: Gauge): AsyncGenerator<string> {
  const format = (registry as unknown as { getMetricsAsString(m: unknown): Promise<string> }).getMetricsAsString.bind(registry);
  // Only the time spent making a part counts: not the time the reader takes to ask for the next
  // one (a slow scraper), nor the yields.
  let longest = 0;
  let since = performance.now();
  const made = (part: string) => {
    longest = Math.max(longest, performance.now() - since);
    return part;
  };
  // Registry.metrics() joins the families with a blank line and ends with a newline.
  let first = true;
  for (const metric of registry.getMetricsAsArray()) {
    if (!first) yield '\n';
    first = false;
    since = performance.now();
    const parts = metric instanceof HostGauge ? hostGaugeText(metric) : metric instanceof Gauge ? gaugeText(metric) : oneText(format(metric));
    for await (const part of parts) {
      yield made(part);
      await yieldNow();
      since = performance.now();
    }
    yield '\n';
  }
  block.set(longest / 1000);
}

async function* oneText(text: Promise<string>): AsyncGenerator<string> {
  yield await text;
}

const yieldNow = () => new Promise<void>((resolve) => setImmediate(resolve));
/** Lines formatted between two yields: a gauge with a series per host (20,000) is split up. */
const LINES_PER_SLICE = 250;

/** A gauge family as prom-client writes it (same escaping and value spelling), in slices. */
async function* gaugeText(metric: Gauge): AsyncGenerator<string> {
  const m = await metric.get();
  let lines = header(m.name, m.help);
  for (let i = 0; i < m.values.length; i++) {
    const v = m.values[i];
    const labels = Object.entries(v.labels)
      .map(([k, x]) => `${k}="${typeof x === 'string' ? labelValue(x) : x}"`)
      .join(',');
    lines.push(`${m.name}${labels ? `{${labels}}` : ''} ${valueText(v.value)}`);
    if (lines.length >= LINES_PER_SLICE && i < m.values.length - 1) {
      yield `${lines.join('\n')}\n`;
      lines = [];
    }
  }
  yield lines.join('\n');
}

/** The same text for a HostGauge, walking its Map a slice at a time. */
async function* hostGaugeText(metric: HostGauge): AsyncGenerator<string> {
  let text = header(metric.name, metric.help).join('\n');
  for (const slice of metric.slices(LINES_PER_SLICE)) {
    for (const [host, value] of slice) text += `\n${metric.name}{host="${labelValue(host)}"} ${valueText(value)}`;
    if (text) yield text;
    text = '';
  }
}

function header(name: string, help: string): string[] {
  return [`# HELP ${escape(name)} ${escape(help)}`, `# TYPE ${escape(name)} gauge`];
}

function labelValue(s: string): string {
  return escape(s).replace(/"/g, '\\"');
}

function valueText(v: number): string {
  return Number.isNaN(v) ? 'Nan' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : `${v}`;
}

function escape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
