import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../../../../agent/sources/log/lines.js';

function splitter(maxBytes = 16) {
  const lines: [string, boolean][] = [];
  const s = new LineSplitter((line, truncated) => lines.push([line, truncated]), maxBytes);
  return { s, lines };
}

describe('splitting a byte stream into lines', () => {
  it('hands on whole lines; a partial last line waits for its newline', () => {
    const { s, lines } = splitter();
    s.push(Buffer.from('one\ntw'));
    expect(lines).toEqual([['one', false]]);
    s.push(Buffer.from('o\r\nthree\n\n'));
    expect(lines).toEqual([
      ['one', false],
      ['two', false],
      ['three', false],
      ['', false],
    ]);
  });

  it('cuts a long line at maxBytes and skips the rest up to its newline, holding no more than maxBytes', () => {
    const { s, lines } = splitter(16);
    for (let i = 0; i < 1000; i++) s.push(Buffer.alloc(1000, 0x61));
    expect(s.pending).toBe(16);
    expect(lines).toEqual([]);
    s.push(Buffer.from('aa\nnext\n'));
    expect(lines).toEqual([
      ['a'.repeat(16), true],
      ['next', false],
    ]);
  });

  it('turns invalid UTF-8 into U+FFFD, and a flush hands on the partial line', () => {
    const { s, lines } = splitter();
    s.push(Buffer.from([0xff, 0xfe, 0x00, 0x41, 0x0a, 0xc3]));
    expect(lines).toEqual([['\uFFFD\uFFFD\u0000A', false]]);
    s.flush();
    expect(lines[1]).toEqual(['\uFFFD', false]);
    s.flush();
    expect(lines).toHaveLength(2);
  });
});
