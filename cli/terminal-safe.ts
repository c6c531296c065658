/**
 * Text from agents and API users (host ids, labels, summaries, outputs, comments) reaches an
 * operator's terminal: an ESC sequence in it could retitle the window, hide lines, rewrite what
 * was printed before, or on some terminals write a file. Human output shows every control
 * character escaped (`\x1b`, `\n`); `--json` output stays exact, for scripts.
 */

// C0 controls, DEL and C1 controls (0x9b is a one-byte CSI), and the bidirectional overrides
// and isolates that reorder what is shown.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

export function printable(text: string): string {
  return text.replace(
    UNSAFE,
    (c) => NAMED[c] ?? (c.charCodeAt(0) < 0x100 ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : `\\u{${c.charCodeAt(0).toString(16)}}`),
  );
}

/** The same value with every string in it (keys too) made printable. */
export function printableDeep<T>(value: T): T {
  if (typeof value === 'string') return printable(value) as T;
  if (Array.isArray(value)) return (value as unknown[]).map((v) => printableDeep(v)) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [printable(k), printableDeep(v)])) as T;
  return value;
}

/** Text made of lines (a table, pretty JSON): each line made printable, the line breaks kept. */
export function printableLines(text: string): string {
  return text.split('\n').map(printable).join('\n');
}
