import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { zodIssues } from '../../protocol/zod.js';
import { matcherSchema, matches, type Matcher } from './matchers.js';

export { formatMatcher, matcherSchema, matches, parseMatcher, regexProblem, type Matcher } from './matchers.js';

export interface Silence {
  id: string;
  matchers: Matcher[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
  /** Also stop automatic heals of the alerts it matches (a silence only mutes pages by default). */
  pauseHeals: boolean;
  createdAt: string;
}

/** `invalid`: a stored silence that cannot be applied (see `problem`); it mutes nothing. */
export type SilenceState = 'pending' | 'active' | 'expired' | 'invalid';

export function silenceState(s: Silence, now: number): Exclude<SilenceState, 'invalid'> {
  if (now < Date.parse(s.startsAt)) return 'pending';
  return now < Date.parse(s.endsAt) ? 'active' : 'expired';
}

const isoTime = z.string().refine((t) => Number.isFinite(Date.parse(t)), 'expected an ISO date-time');

/** A silence as stored: checked again on load, since the file may be older than this code or edited by hand (fields it does not know are kept). */
const storedSilence = z.looseObject({
  id: z.string().min(1),
  matchers: z.array(matcherSchema).min(1),
  startsAt: isoTime,
  endsAt: isoTime,
  createdBy: z.string().default(''),
  comment: z.string().default(''),
  pauseHeals: z.boolean().default(false),
  createdAt: isoTime.optional(),
});

/** A stored entry that failed the check: kept as it was (so nothing is lost), never applied. */
interface Invalid {
  raw: unknown;
  id: string;
  problem: string;
}

export interface SilenceProblem {
  id: string;
  index: number;
  problem: string;
}

/**
 * The silences: created by people through the API/CLI, kept in the store, applied to alerts.
 * Every matcher is checked (and its regex compiled) before a silence is used; a bad stored one
 * is reported once, through `onInvalid`, and skipped — it can never throw where alerts flush.
 */
export class Silences {
  private list: Silence[] = [];
  private invalid: Invalid[] = [];

  constructor(saved: unknown = [], onInvalid?: (p: SilenceProblem) => void) {
    const entries = Array.isArray(saved) ? saved : [saved];
    entries.forEach((raw, index) => {
      const r = storedSilence.safeParse(raw);
      if (r.success) {
        this.list.push({ ...r.data, createdAt: r.data.createdAt ?? r.data.startsAt });
        return;
      }
      const issue = zodIssues(r.error)[0];
      const where = issue.pointer ? `${issue.pointer}: ` : '';
      const rawId = (raw as { id?: unknown } | null)?.id;
      const id = typeof rawId === 'string' && rawId ? rawId : `#${index}`;
      const problem = Array.isArray(saved) ? `${where}${issue.message}` : 'the stored silences are not a list';
      this.invalid.push({ raw, id, problem });
      onInvalid?.({ id, index, problem });
    });
  }

  add(input: { matchers: Matcher[]; startsAt: number; endsAt: number; createdBy: string; comment: string; pauseHeals?: boolean }, now: number): Silence {
    const s: Silence = {
      id: randomUUID(),
      matchers: input.matchers,
      startsAt: new Date(input.startsAt).toISOString(),
      endsAt: new Date(input.endsAt).toISOString(),
      createdBy: input.createdBy,
      comment: input.comment,
      pauseHeals: input.pauseHeals ?? false,
      createdAt: new Date(now).toISOString(),
    };
    this.list.push(s);
    return s;
  }

  /** Ends a silence now; false when there is no such silence or it already ended. An invalid one is removed. */
  expire(id: string, now: number): boolean {
    const bad = this.invalid.findIndex((x) => x.id === id);
    if (bad >= 0) {
      this.invalid.splice(bad, 1);
      return true;
    }
    const s = this.list.find((x) => x.id === id);
    if (!s || silenceState(s, now) === 'expired') return false;
    s.endsAt = new Date(now).toISOString();
    if (Date.parse(s.startsAt) > now) s.startsAt = s.endsAt;
    return true;
  }

  /** Active silences matching these labels. */
  matching(labels: Readonly<Record<string, string>>, now: number): Silence[] {
    return this.list.filter((s) => silenceState(s, now) === 'active' && matches(s.matchers, labels));
  }

  all(now: number): ((Silence & { state: SilenceState }) | { id: string; state: 'invalid'; problem: string; stored: unknown })[] {
    return [
      ...this.list.map((s) => ({ ...s, state: silenceState(s, now) })).sort((a, b) => b.createdAt.localeCompare(a.createdAt)),
      ...this.invalid.map((x) => ({ id: x.id, state: 'invalid' as const, problem: x.problem, stored: x.raw })),
    ];
  }

  /** Drops silences that ended more than `keepMs` ago (invalid ones stay until expired by hand). */
  prune(now: number, keepMs = 7 * 86_400_000): void {
    this.list = this.list.filter((s) => Date.parse(s.endsAt) > now - keepMs);
  }

  /** The next moment a silence starts or ends, so muted alerts can be looked at again then. */
  nextChange(now: number): number | undefined {
    let next: number | undefined;
    for (const s of this.list) {
      for (const t of [Date.parse(s.startsAt), Date.parse(s.endsAt)]) if (t > now && (next === undefined || t < next)) next = t;
    }
    return next;
  }

  /** What the store keeps: the valid silences and, unchanged, the invalid ones. */
  toJSON(): unknown[] {
    return [...this.list, ...this.invalid.map((x) => x.raw)];
  }
}
