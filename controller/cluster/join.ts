import { hostname } from 'node:os';
import { LaasError, errorMessage, type Logger } from '../../protocol/index.js';
import type { ControllerConfig } from '../config.js';
import type { Core } from '../core.js';
import type { Fleet } from '../fleet.js';
import type { Metrics } from '../metrics.js';
import { ClusterSecret } from '../security/cluster-secret.js';
import { sharedSigningKey, type SigningKey } from '../security/keys.js';
import { SIGNING_KEY_STATE } from '../store/migrate.js';
import type { PostgresStore } from '../store/postgres.js';
import type { Store } from '../store/store.js';
import { Cluster } from './cluster.js';
import { Coordinator } from './coordinator.js';
import { AGENTS_CHANGED, sharedStore } from './shared-store.js';

/** The cluster message telling the others a heal ended here (see Fleet.freed): a heal waiting for a slot held on another controller gets its turn. */
const SLOT_FREED = 'heal-slot-freed';

/** A controller that has joined the others on its PostgreSQL store (one alone is a cluster of one). */
export interface Joined {
  /** The records, with every change to shared state announced to the other controllers. */
  store: Store;
  /** The instruction-signing key every controller of the database shares (sealed there with the cluster secret). */
  signing: SigningKey;
  fleet: Fleet;
  /** Starts taking part, once the core and the link exist: adopting, forwarding, reloading what others changed. */
  run(parts: { core: Core; disconnect: (host: string, reason: string) => void; recheckAgents: () => Promise<void> }): void;
  stop(): Promise<void>;
}

/**
 * Joins the controllers on `store`. Nothing of the cluster is started when the secret is missing
 * or cannot open the shared signing key: such a controller takes no part at all (the store is closed).
 */
export async function joinCluster(config: ControllerConfig, store: PostgresStore, opts: { log: Logger; metrics: Metrics }): Promise<Joined> {
  const { log, metrics } = opts;
  if (!config.cluster.secret) {
    await store.close();
    throw new LaasError(
      'CONFIG_INVALID',
      'the PostgreSQL store needs "cluster": {"secret": …}: the same secret of at least 32 characters on every controller sharing the database',
      '/cluster/secret',
    );
  }
  const secret = new ClusterSecret(config.cluster.secret);
  const signing = await sharedSigningKey(store, SIGNING_KEY_STATE, secret, log).catch(async (e: unknown) => {
    await store.close();
    throw e;
  });
  const id = config.cluster.id ?? `${hostname()}:${config.listen.port}`;
  let coordinator: Coordinator | undefined;
  const running = (): Coordinator => {
    if (!coordinator) throw new Error('the cluster is not running yet (joinCluster(...).run was not called)');
    return coordinator;
  };
  const cluster = await Cluster.start({
    store,
    id,
    url: config.externalUrl ?? `${config.tls ? 'https' : 'http'}://${config.listen.host}:${config.listen.port}`,
    log,
    heartbeatMs: config.cluster.heartbeatMs,
    expireMs: config.cluster.expireAfterMs,
    secret,
    onAdopted: (hosts) => running().adopted(hosts),
    onLost: (hosts) => running().lost(hosts),
    onRejected: (reason) => metrics.clusterMessagesRejected.inc({ reason }),
  });
  let credentialPoll: NodeJS.Timeout | undefined;
  const fleet: Fleet = {
    owns: (host) => cluster.owns(host),
    size: () => cluster.hostCount,
    // Hosts whose links other controllers hold are in the database, not in this one's registry.
    hosts: () => store.listHosts(),
    host: (host) => store.getHost(host),
    decide: (fn) => cluster.gate(async () => fn(await cluster.inFlight())),
    claimRuns: (rule, fireAt, hosts) => cluster.claimRuns(rule, fireAt, hosts),
    freed: () => cluster.broadcast(SLOT_FREED),
    onFreed: (fn) => {
      cluster.on(SLOT_FREED, fn);
    },
    claim: (host) => running().claim(host),
    ready: (host) => running().ready(host),
    onOwner: async (host, req, local) => (host === undefined ? local() : ((await running().onOwner(host, req)) as Awaited<ReturnType<typeof local>>)),
  };
  return {
    store: sharedStore(store, id, (key) => cluster.broadcast('state', { key })),
    signing,
    fleet,
    run({ core, disconnect, recheckAgents }) {
      coordinator = new Coordinator({
        cluster,
        core: () => core,
        log,
        disconnect,
        read: { heal: (heal) => store.getHeal(heal), alert: (alert) => store.getAlert(alert) },
        reloadState: async (key) => {
          if (key === 'pause') await core.heal.reloadPause();
          else if (key === 'silences') await core.alerting.reloadSilences();
          else if (key === AGENTS_CHANGED) await recheckAgents();
        },
      });
      cluster.run();
      // A NOTIFY can be lost (the listener reconnecting): credentials are also polled, so a revocation
      // made through another controller takes effect within a heartbeat or two regardless.
      credentialPoll = setInterval(() => {
        recheckAgents().catch((e: unknown) => log.warn({ err: errorMessage(e) }, 'checking agent credentials failed; retrying'));
      }, config.cluster.heartbeatMs);
      credentialPoll.unref();
    },
    async stop() {
      clearInterval(credentialPoll);
      await cluster.stop();
    },
  };
}
