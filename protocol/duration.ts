import * as v from 'valibot';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** Parses "500ms", "10s", "5m", "1h30m", "7d" to milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (!DURATION.test(t)) return undefined;
  let ms = 0;
  for (const m of t.matchAll(PART)) ms += Number(m[1]) * UNITS[m[2]];
  return Math.round(ms);
}

export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0 && ms > 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const durationMessage = (input: unknown) => `expected a duration like "10s", "5m" or "7d", got ${JSON.stringify(input)}`;

/**
 * A duration string ("10s") that yields milliseconds. `typeMessage` words the fault when the
 * value is not a string at all (e.g. a field that wants "7d" and got 7).
 */
export function duration(typeMessage: v.ErrorMessage<v.StringIssue> = (issue) => durationMessage(issue.input)) {
  return v.pipe(
    v.string(typeMessage),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const ms = parseDuration(dataset.value);
      if (ms === undefined) {
        addIssue({ message: durationMessage(dataset.value) });
        return NEVER;
      }
      return ms;
    }),
  );
}

/** A duration of at least `minMs`, so a typo like "1ms" cannot turn a loop into a busy loop. */
export function durationAtLeast(minMs: number, message = `must be at least ${formatDuration(minMs)}`, typeMessage?: v.ErrorMessage<v.StringIssue>) {
  return v.pipe(duration(typeMessage), v.minValue(minMs, message));
}

/** The duration schema with the default wording. */
export const durationSchema = duration();

/** Escapes one JSON pointer token (RFC 6901). */
export function pointerToken(token: PropertyKey): string {
  return String(token).replace(/~/g, '~0').replace(/\//g, '~1');
}

export function jsonPointer(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '/' : '/' + path.map(pointerToken).join('/');
}
