import type { Store } from '../store/store.js';

/** State records each controller keeps for itself (they are about its own hosts and sends). */
const PER_CONTROLLER = new Set(['breakers', 'notifications']);
/** The key announced when agent credentials or claims change; the others poll for it too (a NOTIFY may be lost). */
export const AGENTS_CHANGED = 'agents';

/**
 * The store as the controller's parts see it in a cluster: the same records, but a change of a
 * shared state record (pause, silences, enrolled agents) is announced to the other controllers
 * once it is committed, so they reload it; per-controller state gets a key of its own, so
 * controllers never overwrite each other's.
 */
export function sharedStore(store: Store, controllerId: string, announce: (key: string) => Promise<void>): Store {
  const keyOf = (key: string) => (PER_CONTROLLER.has(key) ? `${key}@${controllerId}` : key);
  return {
    listHosts: () => store.listHosts(),
    getHost: (id) => store.getHost(id),
    putHost: (h) => store.putHost(h),
    listAlerts: (f) => store.listAlerts(f),
    getAlert: (id) => store.getAlert(id),
    putAlert: (a) => store.putAlert(a),
    listHeals: (f) => store.listHeals(f),
    getHeal: (id) => store.getHeal(id),
    putHeal: (h) => store.putHeal(h),
    // A per-controller key is the same record under another name: the one cast, kept here.
    getState: (key) => store.getState(keyOf(key) as typeof key),
    async putState(key, value) {
      await store.putState(keyOf(key) as typeof key, value);
      if (!PER_CONTROLLER.has(key)) await announce(key);
    },
    addEnrollToken: (t, now) => store.addEnrollToken(t, now),
    async enrollAgent(input) {
      const out = await store.enrollAgent(input);
      if (out.ok) await announce(AGENTS_CHANGED).catch(() => undefined); // the others poll too
      return out;
    },
    listAgentCredentials: (since) => store.listAgentCredentials(since),
    getAgentCredential: (id) => store.getAgentCredential(id),
    async revokeAgentCredential(id, by, at) {
      const out = await store.revokeAgentCredential(id, by, at);
      if (out) await announce(AGENTS_CHANGED).catch(() => undefined); // the others poll too
      return out;
    },
    getAgentClaim: (id) => store.getAgentClaim(id),
    claimAgentId: (claim, max) => store.claimAgentId(claim, max),
    async forgetAgentClaim(id) {
      const out = await store.forgetAgentClaim(id);
      if (out) await announce(AGENTS_CHANGED).catch(() => undefined); // the others poll too
      return out;
    },
    flush: () => store.flush(),
    close: () => store.close(),
  };
}
