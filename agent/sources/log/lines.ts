/**
 * Splits a byte stream into lines. A line waits until its newline comes; one longer than `maxBytes`
 * keeps its first `maxBytes` and the rest is skipped up to the newline, so memory stays bounded
 * however long a line is (a 10 MB line with no newline holds `maxBytes`, not 10 MB).
 */
export class LineSplitter {
  private readonly buf: Buffer;
  private used = 0;
  private truncated = false;

  constructor(
    private readonly onLine: (line: string, truncated: boolean) => void,
    readonly maxBytes = 8192,
  ) {
    this.buf = Buffer.allocUnsafe(maxBytes);
  }

  /** Bytes of the line waiting for its newline (at most maxBytes). */
  get pending(): number {
    return this.used;
  }

  push(chunk: Uint8Array): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl === -1 ? chunk.length : nl;
      this.keep(chunk, start, end);
      if (nl === -1) return;
      this.emit();
      start = nl + 1;
    }
  }

  /** Hands on the waiting partial line as it is (its file was rotated or truncated: no more of it will come). */
  flush(): void {
    if (this.used > 0 || this.truncated) this.emit();
  }

  /** Forgets the waiting partial line. */
  reset(): void {
    this.used = 0;
    this.truncated = false;
  }

  private keep(chunk: Uint8Array, start: number, end: number): void {
    const room = this.buf.length - this.used;
    const n = Math.min(room, end - start);
    if (n > 0) this.buf.set(chunk.subarray(start, start + n), this.used);
    this.used += n;
    if (end - start > n) this.truncated = true;
  }

  private emit(): void {
    let end = this.used;
    if (end > 0 && this.buf[end - 1] === 0x0d) end--; // CRLF
    // Invalid UTF-8 (binary garbage, a character cut at maxBytes) becomes U+FFFD.
    const line = this.buf.toString('utf8', 0, end);
    const truncated = this.truncated;
    this.reset();
    this.onLine(line, truncated);
  }
}
