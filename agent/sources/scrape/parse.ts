import { setImmediate as yieldToLoop } from 'node:timers/promises';

// A strict parser for the Prometheus text format 0.0.4 and OpenMetrics 1.0 text. Written here
// because no npm parser is maintained: parse-prometheus-text-format last changed in 2020 and
// knows no OpenMetrics; exposition, in 2017. It follows Prometheus' own parser (model/textparse):
// a malformed line fails the whole body, with its line number.

/** One sample line: its metric name, its labels in the order given, its value (NaN and ±Inf included). */
export type SampleFn = (name: string, labels: readonly (readonly [string, string])[], value: number) => void;

export class ExpositionError extends Error {
  constructor(
    readonly line: number,
    reason: string,
  ) {
    super(`line ${line}: ${reason}`);
  }
}

/**
 * Lines longer than this are skipped unparsed and counted: a gigantic label set costs one scan
 * for its line end, not a parse and a key built from it.
 */
export const MAX_LINE_CHARS = 65_536;

/** The parser reads the clock (to yield) at least once per this many characters of body, however long the lines. */
export const CHECK_CHARS = 16_384;

export interface ParseOptions {
  /** OpenMetrics text (Content-Type application/openmetrics-text): `# EOF` must end it. */
  openMetrics?: boolean;
  /** Give the event loop a turn after this much parsing, so a big body does not stall the agent's sample loop. */
  sliceMs?: number;
}

export interface ParseOutcome {
  /** Sample lines seen, NaN and ±Inf included. */
  samples: number;
  /** Lines over MAX_LINE_CHARS, skipped. */
  longLines: number;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const TEXT_TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const OM_TYPES = new Set(['counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset', 'unknown']);
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const SPECIAL = /^[+-]?(?:inf|infinity|nan)$/i;
const INT_TS = /^-?\d+$/;

/** A value as Go's strconv.ParseFloat reads the forms exporters write, or undefined. */
export function parseValue(s: string): number | undefined {
  if (FLOAT.test(s)) return Number(s);
  if (!SPECIAL.test(s)) return undefined;
  const lower = s.toLowerCase();
  if (lower.endsWith('nan')) return NaN;
  return lower.startsWith('-') ? -Infinity : Infinity;
}

const isBlank = (c: number) => c === 32 || c === 9;
const isNameStart = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
const isNameChar = (c: number) => isNameStart(c) || (c >= 48 && c <= 57);

/** Parses one sample line; throws a plain Error with the reason (the caller adds the line number). */
function parseSampleLine(line: string, openMetrics: boolean, onSample: SampleFn): void {
  let i = 0;
  const n = line.length;
  while (i < n && (isNameChar(line.charCodeAt(i)) || line.charCodeAt(i) === 58)) i++;
  const name = line.slice(0, i);
  if (!METRIC_NAME.test(name)) throw new Error(`expected a metric name, got ${JSON.stringify(line.slice(0, 40))}`);
  const afterName = i;
  if (!openMetrics) while (i < n && isBlank(line.charCodeAt(i))) i++;
  const labels: [string, string][] = [];
  const hasLabels = line.charCodeAt(i) === 123; /* { */
  if (hasLabels) {
    i++;
    const seen = new Set<string>();
    for (;;) {
      while (i < n && isBlank(line.charCodeAt(i))) i++;
      if (line.charCodeAt(i) === 125 /* } */) {
        i++;
        break;
      }
      const start = i;
      if (!isNameStart(line.charCodeAt(i))) throw new Error(`${name}: expected a label name at column ${i + 1}`);
      while (i < n && isNameChar(line.charCodeAt(i))) i++;
      const label = line.slice(start, i);
      while (i < n && isBlank(line.charCodeAt(i))) i++;
      if (line.charCodeAt(i) !== 61 /* = */) throw new Error(`${name}: expected "=" after label ${label}`);
      i++;
      while (i < n && isBlank(line.charCodeAt(i))) i++;
      if (line.charCodeAt(i) !== 34 /* " */) throw new Error(`${name}: expected a quoted value for label ${label}`);
      i++;
      let value = '';
      let from = i;
      for (;;) {
        if (i >= n) throw new Error(`${name}: label ${label} has no closing quote`);
        const c = line.charCodeAt(i);
        if (c === 34) break;
        if (c === 92 /* \ */) {
          const next = line[i + 1];
          if (next === undefined) throw new Error(`${name}: label ${label} ends in a lone backslash`);
          value += line.slice(from, i);
          // Prometheus unescapes only these three; any other escape stays as written.
          value += next === 'n' ? '\n' : next === '\\' || next === '"' ? next : `\\${next}`;
          i += 2;
          from = i;
          continue;
        }
        i++;
      }
      value += line.slice(from, i);
      i++;
      if (seen.has(label)) throw new Error(`${name}: label ${label} given twice`);
      seen.add(label);
      labels.push([label, value]);
      while (i < n && isBlank(line.charCodeAt(i))) i++;
      const c = line.charCodeAt(i);
      if (c === 44 /* , */) i++;
      else if (c !== 125) throw new Error(`${name}: expected "," or "}" after label ${label}`);
    }
  }
  if (!isBlank(line.charCodeAt(i)) && (hasLabels || i === afterName)) throw new Error(`${name}: expected a blank before the value`);
  let rest = line.slice(i).trim();
  if (openMetrics) {
    // An exemplar (` # {trace_id="…"} 1 …`) belongs to the sample, not to its value.
    const hash = rest.indexOf(' # ');
    if (hash >= 0) rest = rest.slice(0, hash).trimEnd();
  }
  const parts = rest.split(/[ \t]+/);
  if (parts.length > 2 || parts[0] === '') throw new Error(`${name}: expected a value and at most a timestamp, got ${JSON.stringify(rest.slice(0, 60))}`);
  const value = parseValue(parts[0]);
  if (value === undefined) throw new Error(`${name}: ${JSON.stringify(parts[0].slice(0, 40))} is not a number`);
  const ts = parts[1];
  if (ts !== undefined && !(openMetrics ? FLOAT.test(ts) : INT_TS.test(ts))) throw new Error(`${name}: ${JSON.stringify(ts.slice(0, 40))} is not a timestamp`);
  onSample(name, labels, value);
}

/** Parses `# HELP`, `# TYPE`, `# UNIT` and `# EOF`; other comments are allowed in text 0.0.4 only. */
function parseComment(line: string, openMetrics: boolean, types: Map<string, string>): 'eof' | undefined {
  if (openMetrics && line === '# EOF') return 'eof';
  const m = /^#[ \t]+(HELP|TYPE|UNIT)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
  if (!m) {
    if (openMetrics) throw new Error(`expected # HELP, # TYPE, # UNIT or # EOF, got ${JSON.stringify(line.slice(0, 40))}`);
    return undefined;
  }
  const [, keyword, name, rest] = m as unknown as [string, string, string, string | undefined];
  if (!METRIC_NAME.test(name)) throw new Error(`# ${keyword}: ${JSON.stringify(name.slice(0, 40))} is not a metric name`);
  if (keyword === 'UNIT' && !openMetrics) return undefined;
  if (keyword === 'TYPE') {
    const type = (rest ?? '').trim();
    if (!(openMetrics ? OM_TYPES : TEXT_TYPES).has(type)) throw new Error(`# TYPE ${name}: unknown type ${JSON.stringify(type.slice(0, 40))}`);
    if (types.has(name)) throw new Error(`# TYPE ${name} given twice`);
    types.set(name, type);
  }
  return undefined;
}

/**
 * Parses a whole exposition body, calling `onSample` for each sample line (histogram and summary
 * lines arrive as the plain series they are: `_bucket`, `_sum`, `_count`). Throws ExpositionError
 * at the first malformed line. Yields to the event loop every `sliceMs` of work.
 */
export async function parseExposition(body: string, onSample: SampleFn, options: ParseOptions = {}): Promise<ParseOutcome> {
  const openMetrics = options.openMetrics === true;
  const sliceMs = options.sliceMs ?? 5;
  const types = new Map<string, string>();
  let samples = 0;
  let longLines = 0;
  let lineNo = 0;
  let eofAt = 0;
  let pos = 0;
  let sliceStart = performance.now();
  let checkedAt = 0;
  while (pos < body.length) {
    let end = body.indexOf('\n', pos);
    if (end < 0) end = body.length;
    lineNo++;
    // The clock is read every few lines and every few KiB, whichever comes first: by lines alone,
    // 256 lines of 32 KiB (a whole 8 MiB body) went by in one slice; read every line, it would
    // cost more than the parse (the agent runs --jitless).
    if ((lineNo & 31) === 0 || pos - checkedAt >= CHECK_CHARS) {
      checkedAt = pos;
      if (performance.now() - sliceStart >= sliceMs) {
        await yieldToLoop();
        sliceStart = performance.now();
      }
    }
    let line = body.slice(pos, end);
    pos = end + 1;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (eofAt > 0) {
      if (line === '' && pos >= body.length) break;
      throw new ExpositionError(lineNo, `text after # EOF (line ${eofAt})`);
    }
    if (line.length > MAX_LINE_CHARS) {
      longLines++;
      continue;
    }
    try {
      if (line.trim() === '') {
        if (openMetrics) throw new Error('blank line');
      } else if (line.charCodeAt(0) === 35 /* # */) {
        if (parseComment(line, openMetrics, types) === 'eof') eofAt = lineNo;
      } else {
        parseSampleLine(line, openMetrics, onSample);
        samples++;
      }
    } catch (e) {
      throw new ExpositionError(lineNo, (e as Error).message);
    }
  }
  if (openMetrics && eofAt === 0) throw new ExpositionError(lineNo, 'no # EOF at the end (the body was cut short?)');
  return { samples, longLines };
}
