import { LaasError, errorMessage, type Logger } from '../../protocol/index.js';
import type { AuditEntry } from './audit.js';
import type { HelloRefusal } from './agents.js';

/** Refusals of one id, reason and address within this window make one audit entry (an agent retries with backoff). */
const AUDIT_EVERY_MS = 60_000;
const MAX_REMEMBERED = 10_000;

/**
 * What happens to a hello refused for its agent id: counted, audited and logged, and turned into
 * the error that closes the link (1008 with the code). A peer that retries in a loop makes one
 * audit entry a minute per id and address, so it cannot flush the audit log.
 */
export class HelloRefusals {
  private readonly last = new Map<string, number>();

  constructor(
    private readonly deps: {
      audit: (e: Omit<AuditEntry, 'at'>) => void;
      count: (reason: HelloRefusal['reason']) => void;
      log: Logger;
      now?: () => number;
    },
  ) {}

  refuse(r: HelloRefusal, agentId: string, remote: string, via: string): LaasError {
    this.deps.count(r.reason);
    const address = remote.replace(/:\d+$/, '');
    const key = `${r.reason}\u0000${agentId}\u0000${address}`;
    const now = (this.deps.now ?? Date.now)();
    const at = this.last.get(key);
    if (at === undefined || now - at >= AUDIT_EVERY_MS) {
      if (this.last.size >= MAX_REMEMBERED) this.last.clear();
      this.last.set(key, now);
      try {
        this.deps.audit({
          who: agentId.slice(0, 200),
          role: 'agent',
          from: remote,
          action: 'agent hello',
          target: agentId.slice(0, 200),
          result: 'denied',
          detail: `${r.code}: ${r.message} (${via})`,
        });
      } catch (e) {
        // The refusal stands whatever the audit file does (a full disk must not let the hello through, nor hang it).
        this.deps.log.error({ err: errorMessage(e) }, 'could not write the audit log; check the data dir');
      }
      this.deps.log.warn({ agent: agentId, remote, reason: r.reason, code: r.code, via }, `agent hello refused: ${r.message}`);
    }
    return new LaasError(r.code, r.message);
  }
}
