import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../../protocol/index.js';
import { LowdbStore } from './lowdb.js';
import { PostgresStore } from './postgres.js';

export interface MigrateCounts {
  hosts: { copied: number; present: number };
  alerts: { copied: number; present: number };
  heals: { copied: number; present: number };
  state: { copied: number; present: number };
}

/** State key under which controllers sharing a database keep the one instruction-signing key. */
export const SIGNING_KEY_STATE = 'signing-key';

/**
 * Copies a lowdb store (its data dir, or the laas.json in it) into PostgreSQL in one
 * transaction. Records already there are left alone, so running it again copies nothing
 * twice and never overwrites what controllers wrote since. The signing key goes along, so
 * agents that pinned it keep accepting instructions. The lowdb store must not be in use
 * (its lock is taken, as a controller would).
 */
export async function migrateLowdbToPostgres(from: string, url: string, log: Logger): Promise<MigrateCounts> {
  const dataDir = existsSync(from) && statSync(from).isFile() ? dirname(from) : from;
  if (existsSync(from) && statSync(from).isFile() && basename(from) !== 'laas.json') {
    throw new Error(`${from}: expected a laas data dir or its laas.json`);
  }
  if (!existsSync(join(dataDir, 'laas.json'))) throw new Error(`${dataDir}: no laas.json here; give the controller's dataDir`);
  const source = await LowdbStore.open({ dataDir, log });
  try {
    const target = await PostgresStore.open({ url, log });
    try {
      const hosts = await source.listHosts();
      const alerts = await source.listAlerts();
      const heals = await source.listHeals();
      const state = source.stateEntries();
      const keyFile = join(dataDir, 'signing-key.pem');
      if (existsSync(keyFile)) state.push([SIGNING_KEY_STATE, readFileSync(keyFile, 'utf8')]);
      return await target.transaction(async (c) => {
        const count = async (sqls: [string, unknown[]][]) => {
          let copied = 0;
          for (const [sql, params] of sqls) copied += (await c.query(sql, params)).rowCount ?? 0;
          return { copied, present: sqls.length - copied };
        };
        const j = (v: unknown) => JSON.stringify(v);
        return {
          hosts: await count(hosts.map((h) => ['INSERT INTO laas_hosts (id, doc) VALUES ($1, $2) ON CONFLICT DO NOTHING', [h.id, j({ ...h, connected: false })]])),
          alerts: await count(alerts.map((a) => ['INSERT INTO laas_alerts (id, state, host, starts_at, ends_at, doc) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING', [a.id, a.state, a.host, a.startsAt, a.endsAt, j(a)]])),
          heals: await count(heals.map((h) => ['INSERT INTO laas_heals (id, state, host, rule, created_at, finished_at, doc) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING', [h.id, h.state, h.host, h.rule, h.createdAt, h.finishedAt, j(h)]])),
          state: await count(state.map(([k, v]) => ['INSERT INTO laas_state (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING', [k, j(v)]])),
        };
      });
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}
