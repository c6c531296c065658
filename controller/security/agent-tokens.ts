import { createHash, scryptSync } from 'node:crypto';

/** Distinct host ids one shared token may claim unless its entry says otherwise (`maxHosts`). */
export const DEFAULT_MAX_HOSTS = 10_000;

/** A shared agent token as controller.json gives it, its secret resolved. */
export interface SharedTokenConfig {
  token: string;
  /** Entries with one name are one claimant: a new token under an old name keeps the ids it claimed. */
  name?: string;
  /** Agent ids this token may say hello as: exact ids, or globs where `*` is any run of characters. */
  ids?: string[];
  /** Labels a hello with this token must carry, each with exactly this value. */
  labels?: Record<string, string>;
  maxHosts: number;
}

/** A shared token ready to check a hello against. */
export interface SharedToken {
  /** Its claimant name: the entry's name, or a fingerprint of the token ("fp:…") when it has none. */
  readonly name: string;
  /** sha256 of the token, compared in constant time at the upgrade. */
  readonly hash: string;
  readonly ids?: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
  readonly maxHosts: number;
  /** Where it is in the config, for messages: "/agentTokens/2". */
  readonly where: string;
  /** Whether the hello's id and labels are inside this token's restriction; the reason when not. */
  allows(agentId: string, labels: Record<string, string>): string | undefined;
}

export const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * The claimant name of an unnamed token: a slow hash (scrypt), so the claims in a database do
 * not make a weak token cheap to guess; computed once per token at start.
 */
export function fingerprint(token: string): string {
  return `fp:${scryptSync(token, 'laas shared agent token claims', 8).toString('hex')}`;
}

/** `*` matches any run of characters (none included); everything else matches itself. */
export function globToRegExp(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, '\\$&'))
      .join('.*')}$`,
    's',
  );
}

export function sharedTokens(entries: readonly SharedTokenConfig[]): SharedToken[] {
  return entries.map((e, n): SharedToken => {
    const patterns = e.ids?.map(globToRegExp);
    return {
      name: e.name ?? fingerprint(e.token),
      hash: sha256(e.token),
      ids: e.ids,
      labels: e.labels,
      maxHosts: e.maxHosts,
      where: `/agentTokens/${n}`,
      allows(agentId, labels) {
        if (patterns && !patterns.some((p) => p.test(agentId))) return `agent id "${agentId}" is not one of the ids this token may use (${e.ids!.join(', ')})`;
        for (const [k, v] of Object.entries(e.labels ?? {})) {
          if (labels[k] !== v) return `the hello's label ${k}=${JSON.stringify(labels[k] ?? null)} is not the ${k}=${JSON.stringify(v)} this token requires`;
        }
        return undefined;
      },
    };
  });
}
