import type { Logger } from '../../protocol/index.js';
import type { StoreConfig } from '../config.js';
import type { Metrics } from '../metrics.js';
import { LowdbStore } from './lowdb.js';
import { PostgresStore } from './postgres.js';
import type { Store } from './store.js';

/** The store the config names: lowdb in the data dir unless "store" says postgres. */
export async function openStore(config: { store: StoreConfig; dataDir: string }, deps: { log: Logger; metrics?: Metrics }): Promise<Store> {
  if (config.store.type === 'postgres') return PostgresStore.open({ url: config.store.url, log: deps.log, metrics: deps.metrics });
  return LowdbStore.open({ dataDir: config.dataDir, log: deps.log, metrics: deps.metrics, journalAboveBytes: config.store.journalAboveBytes });
}
