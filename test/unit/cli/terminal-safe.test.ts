import { describe, expect, it } from 'vitest';
import { printable, printableDeep, printableLines } from '../../../cli/terminal-safe.js';

describe('text for a terminal', () => {
  it.each([
    ['an ESC sequence (window title, clear screen)', 'a\u001b]0;pwned\u0007b\u001b[2J', 'a\\x1b]0;pwned\\x07b\\x1b[2J'],
    ['a one-byte CSI (C1)', 'x\u009b31m', 'x\\x9b31m'],
    ['DEL and NUL', 'a\u007fb\u0000', 'a\\x7fb\\x00'],
    ['line breaks and tabs that would forge rows', 'web-1\n2026-01-01  ok  admin', 'web-1\\n2026-01-01  ok  admin'],
    ['a bidi override that reorders what is shown', 'ok \u202egnp.exe', 'ok \\u{202e}gnp.exe'],
    ['plain text, accents and emoji', 'web-1 été ✓ 🚀', 'web-1 été ✓ 🚀'],
  ])('escapes %s', (_, raw, shown) => {
    expect(printable(raw)).toBe(shown);
  });

  it('escapes every string of a response, keys too, and keeps the line breaks of a whole table', () => {
    expect(printableDeep({ 'k\u001b': ['v\u009b', 3, null, { x: '\r' }] })).toEqual({ 'k\\x1b': ['v\\x9b', 3, null, { x: '\\r' }] });
    expect(printableLines('a\u001b\nb\u009b')).toBe('a\\x1b\nb\\x9b');
  });
});
