import type { Logger } from '../../protocol/index.js';
import type { Core } from '../core.js';
import type { AgentLinks } from '../security/agent-links.js';
import type { AuditInput } from '../security/audit.js';
import type { LinkHandlers } from './server.js';

/** An agent refusing an instruction for one of these reasons may be under attack: the refusal is audited. */
const SECURITY_REFUSAL = /^ACTION_(BAD_SIGNATURE|NO_SIGNING_KEY|REPLAYED|DEADLINE_PASSED)$/;

export interface AgentHandlerDeps {
  /** The core exists once the link does (no message arrives before the server listens). */
  core: () => Core;
  links: AgentLinks;
  audit: (entry: AuditInput) => void;
  signingKeyPem: string;
  /** Writes what is recorded to disk: a result is acked to its agent (which then forgets it) only after. */
  flush: () => Promise<void>;
  log: Logger;
}

/** What the controller does with each message an agent sends: admit, then hand to the core, once the host's take-over (cluster) is done. */
export function agentHandlers(deps: AgentHandlerDeps): LinkHandlers {
  const { core, links, log } = deps;
  const ready = (host: string) => core().fleet.ready(host);
  return {
    async hello(session, hello) {
      // Who may speak for this id is decided before anything is recorded about it.
      await links.admit(session, hello);
      const welcome = await core().hello(hello);
      await core().fleet.claim(hello.agentId);
      return { ...welcome, signingKey: deps.signingKeyPem };
    },
    connected(session) {
      links.connected(session);
      core().connected(session.hostId!);
    },
    async sample(session, sample) {
      await ready(session.hostId!);
      await core().sample(session.hostId!, sample);
    },
    async ack(session, body) {
      await ready(session.hostId!);
      await core().ack(session.hostId!, body.id);
    },
    async result(session, result) {
      await ready(session.hostId!);
      if (result.outcome === 'refused' && result.error && SECURITY_REFUSAL.test(result.error.code)) {
        deps.audit({
          who: session.hostId!,
          role: 'agent',
          from: session.remote,
          action: 'instruction refused',
          target: result.id,
          result: 'denied',
          detail: `${result.error.code}: ${result.error.message}`,
        });
      }
      if (!(await core().result(session.hostId!, result)))
        log.warn({ host: session.hostId, id: result.id }, 'result for an unknown work order; acknowledged and dropped');
      await deps.flush();
    },
    disconnected(session) {
      links.disconnected(session);
      void core().disconnected(session.hostId!);
    },
  };
}
