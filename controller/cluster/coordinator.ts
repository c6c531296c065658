import { errorMessage, type Logger } from '../../protocol/index.js';
import type { Core } from '../core.js';
import type { OwnerRequest } from '../fleet.js';
import { type Cluster, RemoteError } from './cluster.js';

export interface CoordinatorDeps {
  cluster: Cluster;
  core: () => Core;
  /** Drops this controller's link to a host (another controller holds the host now). */
  disconnect: (host: string, reason: string) => void;
  /** Another controller changed a shared state record: reload it. */
  reloadState: (key: string) => Promise<void>;
  /** Reads a record back after its owner changed it (a NOTIFY payload is capped at 8,000 bytes, so only ids travel). */
  read: { heal: (id: string) => Promise<unknown>; alert: (id: string) => Promise<unknown> };
  log: Logger;
  /** How long to wait for the previous owner to let go of a host before adopting it anyway. */
  takeTimeoutMs?: number;
}

/**
 * Host affinity between controllers: the controller holding a host's link owns its alerts and
 * work orders. It takes them over when the agent connects (the previous owner lets go first),
 * adopts them when the owner died, and forwards operator actions on them to their owner.
 */
export class Coordinator {
  private readonly adopting = new Map<string, Promise<void>>();

  constructor(private readonly deps: CoordinatorDeps) {
    const { cluster, log } = deps;
    cluster
      .on('take', async (body, from) => {
        const host = (body as { host: string }).host;
        cluster.release(host);
        const out = await deps.core().releaseHost(host);
        deps.disconnect(host, `host moved to controller ${from}`);
        log.info({ host, to: from, heals: out.heals.length, alerts: out.alerts }, 'host moved to another controller; its open work orders go with it');
        return out;
      })
      .on('state', (body) => deps.reloadState((body as { key: string }).key))
      .on('owner', async (body) => {
        const out = await this.local(body as OwnerRequest);
        return out && typeof out === 'object' && 'id' in out ? { id: (out as { id: string }).id } : out;
      });
  }

  /** The agent of `host` connected here: own it, and carry on what its previous owner had open. */
  async claim(host: string): Promise<void> {
    const { cluster, log } = this.deps;
    const prev = await cluster.claimHost(host);
    if (!prev) return;
    const done = (async () => {
      if (prev.alive) {
        try {
          await cluster.call(prev.previous, 'take', { host }, this.deps.takeTimeoutMs ?? 5_000);
        } catch (e) {
          log.warn({ host, from: prev.previous, err: errorMessage(e) }, 'previous controller did not let go of the host; adopting it anyway');
        }
      }
      const out = await this.deps.core().adoptHost(host, 'connected');
      log.info({ host, from: prev.previous, ...out }, 'host taken over from another controller');
    })().catch((e: unknown) => log.error({ host, err: errorMessage(e) }, 'taking over a host failed'));
    this.adopting.set(host, done);
    void done.finally(() => {
      if (this.adopting.get(host) === done) this.adopting.delete(host);
    });
  }

  /** Waits until a take-over of the host is complete (messages from its agent wait for it). */
  async ready(host: string): Promise<void> {
    await this.adopting.get(host);
  }

  /** Hosts of a dead controller, adopted by this one: they go down here unless their agents return. */
  async adopted(hosts: string[]): Promise<void> {
    for (const host of hosts) {
      const out = await this.deps.core().adoptHost(host, 'orphaned');
      this.deps.log.warn({ host, ...out }, 'adopted a host of a dead controller');
    }
  }

  async lost(hosts: string[]): Promise<void> {
    for (const host of hosts) await this.deps.core().releaseHost(host);
  }

  /**
   * Runs an operator's request on the controller that owns the host (here, or forwarded).
   * A dead owner's hosts are adopted within cluster.expireAfter; until then it is refused.
   */
  async onOwner(host: string, req: OwnerRequest): Promise<unknown> {
    const { cluster } = this.deps;
    const owner = await cluster.ownerOf(host);
    if (!owner || owner.controller === cluster.id) return this.local(req);
    if (!owner.alive)
      throw new RemoteError(
        'CLUSTER_OWNER_UNAVAILABLE',
        `controller ${owner.controller}, which holds ${host}, is not answering; a live controller adopts its hosts shortly — retry`,
      );
    const out = await cluster.call(owner.controller, 'owner', req);
    if (out && typeof out === 'object' && 'id' in out) {
      const id = (out as { id: string }).id;
      return req.kind === 'ack' ? this.deps.read.alert(id) : this.deps.read.heal(id);
    }
    return out;
  }

  private async local(req: OwnerRequest): Promise<unknown> {
    const p = this.deps.core();
    switch (req.kind) {
      case 'approve':
        return p.heal.approve(req.id, req.by, req.comment);
      case 'reject':
        return p.heal.reject(req.id, req.by, req.comment);
      case 'ack':
        return (await p.alerting.acknowledge(req.id, req.by, req.comment)) ?? null;
      case 'breaker-reset':
        return p.heal.resetBreaker(req.rule, req.host, req.by);
    }
  }
}
