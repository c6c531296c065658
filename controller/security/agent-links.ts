import { errorMessage, type Hello, type Logger } from '../../protocol/index.js';
import type { Session } from '../link/server.js';
import type { AgentAuth, Identity } from './agents.js';
import type { HelloRefusals } from './hello-refusals.js';

/**
 * The live agent links and the credential each came with. Who may speak for an id is decided at
 * hello; when credentials change (here, on another controller, or seen by a poll) the links
 * whose identity no longer holds are closed: a revoked agent, a shared token on an id now enrolled.
 */
export class AgentLinks {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly deps: { auth: AgentAuth; refusals: HelloRefusals; disconnect: (host: string, why: string) => void; log: Logger }) {}

  /** Throws the refusal (a LaasError with an AGENT_* code) when this identity may not say hello as this id. */
  async admit(session: Session, hello: Hello): Promise<void> {
    const refused = await this.deps.auth.admit(session.identity, hello, session.remote);
    if (refused) throw this.deps.refusals.refuse(refused, hello.agentId, session.remote, describe(session.identity));
  }

  connected(session: Session): void {
    this.sessions.set(session.hostId!, session);
    // Revoked (or enrolled) while this hello was on its way: the check of changes may have run before the link was here.
    if (!this.deps.auth.stillValid(session.identity, session.hostId!)) this.deps.disconnect(session.hostId!, 'credential no longer valid');
  }

  disconnected(session: Session): void {
    if (this.sessions.get(session.hostId!) === session) this.sessions.delete(session.hostId!);
  }

  /** Whether the link of `host` came with a shared token (which claims the id again at its next hello). */
  onSharedToken(host: string): boolean {
    return this.sessions.get(host)?.identity.kind === 'shared';
  }

  /** Re-reads the credentials and closes every link whose identity no longer holds. */
  async recheck(): Promise<void> {
    await this.deps.auth.refresh();
    // Every link, not only the changed ids: a change may have reached the cache another way (a hello's read, enroll, revoke).
    for (const [host, session] of this.sessions) {
      if (this.deps.auth.stillValid(session.identity, host)) continue;
      const why = session.identity.kind === 'agent' ? 'credential revoked' : 'agent id enrolled; only its own credential may use it';
      this.deps.disconnect(host, why);
      this.deps.log.warn({ agent: host, why }, 'agent link closed: its credential changed');
    }
  }

  /** After an enrollment or revocation here: the change is made, so a failed re-check is logged, not answered as a failure (the poll retries). */
  async recheckNow(): Promise<void> {
    await this.recheck().catch((e: unknown) =>
      this.deps.log.warn({ err: errorMessage(e) }, 'checking agent links after a credential change failed; the next check retries'),
    );
  }
}

/** What said hello, for the audit and log: which shared token, or which credential. */
function describe(identity: Identity): string {
  return identity.kind === 'shared' ? `shared token ${identity.token.where} (${identity.token.name})` : `credential of agent ${identity.id}`;
}
