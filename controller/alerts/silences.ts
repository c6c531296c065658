import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/** One label matcher: name=value, name!=value, name=~regex, name!~regex (anchored, like Alertmanager). */
export interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual: boolean;
}

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

const MATCHER = /^([A-Za-z_][\w.-]*)\s*(=~|!~|!=|=)\s*(.*)$/;

/** Parses "host=web-1", "alertname=~disk.*", "env!=prod". */
export function parseMatcher(text: string): Matcher | string {
  const m = MATCHER.exec(text.trim());
  if (!m) return `bad matcher ${JSON.stringify(text)}: expected name=value, name!=value, name=~regex or name!~regex`;
  const [, name, op, raw] = m;
  const value = raw.replace(/^"(.*)"$/, '$1');
  const isRegex = op === '=~' || op === '!~';
  if (isRegex) {
    try { new RegExp(`^(?:${value})$`); } catch (e) { return `bad regex in matcher ${JSON.stringify(text)}: ${(e as Error).message}`; }
  }
  return { name, value, isRegex, isEqual: op === '=' || op === '=~' };
}

export const matcherSchema = z.union([
  z.string().transform((s, ctx) => {
    const m = parseMatcher(s);
    if (typeof m === 'string') { ctx.addIssue({ code: 'custom', message: m }); return z.NEVER; }
    return m;
  }),
  z.strictObject({ name: z.string().min(1), value: z.string(), isRegex: z.boolean().default(false), isEqual: z.boolean().default(true) }),
]);

export function matches(matchers: readonly Matcher[], labels: Readonly<Record<string, string>>): boolean {
  return matchers.every((m) => {
    const v = labels[m.name] ?? '';
    const hit = m.isRegex ? new RegExp(`^(?:${m.value})$`).test(v) : v === m.value;
    return hit === m.isEqual;
  });
}

export function formatMatcher(m: Matcher): string {
  return `${m.name}${m.isEqual ? (m.isRegex ? '=~' : '=') : (m.isRegex ? '!~' : '!=')}${m.value}`;
}

export type SilenceState = 'pending' | 'active' | 'expired';

export function silenceState(s: Silence, now: number): SilenceState {
  if (now < Date.parse(s.startsAt)) return 'pending';
  return now < Date.parse(s.endsAt) ? 'active' : 'expired';
}

/** The silences: created by people through the API/CLI, kept in the store, applied to alerts. */
export class Silences {
  private list: Silence[];

  constructor(saved: readonly Silence[] = []) {
    this.list = saved.map((s) => ({ ...s }));
  }

  add(input: { matchers: Matcher[]; startsAt: number; endsAt: number; createdBy: string; comment: string; pauseHeals?: boolean }, now: number): Silence {
    const s: Silence = {
      id: randomUUID(), matchers: input.matchers, startsAt: new Date(input.startsAt).toISOString(), endsAt: new Date(input.endsAt).toISOString(),
      createdBy: input.createdBy, comment: input.comment, pauseHeals: input.pauseHeals ?? false, createdAt: new Date(now).toISOString(),
    };
    this.list.push(s);
    return s;
  }

  /** Ends a silence now; false when there is no such silence or it already ended. */
  expire(id: string, now: number): boolean {
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

  all(now: number): (Silence & { state: SilenceState })[] {
    return this.list.map((s) => ({ ...s, state: silenceState(s, now) })).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** Drops silences that ended more than `keepMs` ago. */
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

  toJSON(): Silence[] {
    return this.list;
  }
}
