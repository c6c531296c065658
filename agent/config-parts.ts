import * as v from 'valibot';
import { durationAtLeast } from '../protocol/index.js';

// Schema pieces agent.json's sections share (the agent's own settings, its services, its fact sources).

/** The path item valibot puts on an issue, for issues a check raises on a field below it. */
export function at(input: Record<string, unknown> | unknown[], ...keys: (string | number)[]): [v.IssuePathItem, ...v.IssuePathItem[]] {
  let container: unknown = input;
  const items = keys.map((key) => {
    const value = (container as Record<string | number, unknown>)[key];
    const item = Array.isArray(container)
      ? { type: 'array' as const, origin: 'value' as const, input: container, key: key as number, value }
      : { type: 'object' as const, origin: 'value' as const, input: container as Record<string, unknown>, key: key as string, value };
    container = value;
    return item;
  });
  return items as [v.IssuePathItem, ...v.IssuePathItem[]];
}

/**
 * A URL of the given schemes (as `new URL` reads it), e.g. ["ws:", "wss:"]; surrounding blanks
 * do not count (cleanUrl drops them). An http(s) URL must say "://", so "http:example.com" is
 * not silently taken. Only a check, no transform: a transform would hide from `union` which
 * branch (a URL or a list of them) the value was meant for.
 */
export function urlOf(protocols: readonly string[], message: string) {
  const http = protocols.includes('http:');
  return v.pipe(
    v.string(message),
    v.check((raw) => {
      const s = raw.trim();
      if (http && !/^https?:\/\//i.test(s)) return false;
      try {
        return protocols.includes(new URL(s).protocol);
      } catch {
        return false;
      }
    }, message),
  );
}

/** A checked URL as it is used: trimmed, without the tabs and line breaks the URL parser ignores. */
export function cleanUrl(url: string): string {
  return url.trim().replace(/[\t\n\r]/g, '');
}

const durationMessage = (issue: { input: unknown }) => `expected a duration like "10s", "5m" or "7d", got ${JSON.stringify(issue.input)}`;
/** A duration with a floor, so a typo like "1ms" cannot turn a loop into a busy loop. */
export const durationMin = (minMs: number) => durationAtLeast(minMs, undefined, durationMessage);

/** A command as an argument vector: never a string a shell would split. */
export function argvSchema() {
  const ARGV = 'expected an argument vector like ["/usr/bin/cmd", "--flag"]';
  return v.pipe(v.array(v.pipe(v.string(), v.minLength(1, 'must not be empty')), ARGV), v.minLength(1, ARGV));
}

export function hostPortSchema() {
  const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^:\s/[\]]+):(\d{1,5})$/;
  return v.pipe(
    v.string(),
    v.check((s) => {
      const m = HOST_PORT.exec(s);
      return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 65535;
    }, 'expected "host:port" with a port 1-65535, e.g. "127.0.0.1:8080"'),
  );
}
