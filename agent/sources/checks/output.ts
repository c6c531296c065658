// Reads what a Monitoring Plugin prints (https://www.monitoring-plugins.org/doc/guidelines.html):
//   TEXT | perfdata
//   long text lines…
//   last long text line | more perfdata
//   more perfdata lines…
// Whatever does not fit is dropped, item by item: a plugin's garbage never fails the check.

import type { Sample } from '../../../protocol/index.js';

type CheckFact = NonNullable<Sample['check']>[string];
export type PerfValue = CheckFact['perf'][string];

/** The wire's bounds (protocol/facts.ts checkFacts). */
export const MAX_OUTPUT = 4096;
export const MAX_LONG_OUTPUT = 16_384;
export const MAX_PERF = 100;
const MAX_LABEL = 200;
const MAX_RANGE = 60;

export interface PluginOutput {
  /** The first line without its perfdata; '' when the plugin printed nothing. */
  output: string;
  /** The lines after the first (without the perfdata part), when there are any. */
  longOutput?: string;
  perf: Record<string, PerfValue>;
}

const NUMBER = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?/;
/** Units people print: the guideline's (s ms us % B KB MB GB TB c) and the SI-like others Icinga reads (KiB, W, packets). */
const UOM = /^(?:[A-Za-z%]|µ|°){0,10}$/;
/** A range expression `[@][start:][end]`, `~` for minus infinity; the empty one is not one. */
const RANGE = /^@?(?:(?:~|[-+]?(?:\d+(?:\.\d*)?|\.\d+))?:)?(?:[-+]?(?:\d+(?:\.\d*)?|\.\d+))?$/;

/** Splits a plugin's stdout into text, long text and perfdata. */
export function parsePluginOutput(stdout: string): PluginOutput {
  const lines = stdout.replace(/\r\n?/g, '\n').replace(/\n+$/, '').split('\n');
  const [first, ...rest] = lines;
  const bar = first.indexOf('|');
  const output = (bar < 0 ? first : first.slice(0, bar)).trim();
  const perfParts = bar < 0 ? [] : [first.slice(bar + 1)];
  const long: string[] = [];
  let inPerf = false;
  for (const line of rest) {
    if (inPerf) {
      perfParts.push(line);
      continue;
    }
    const i = line.indexOf('|');
    if (i < 0) long.push(line);
    else {
      // Nagios 3: the "|" on a later line starts perfdata that runs to the end of the output.
      long.push(line.slice(0, i));
      perfParts.push(line.slice(i + 1));
      inPerf = true;
    }
  }
  const longOutput = long.join('\n').trimEnd();
  return {
    output: cut(output, MAX_OUTPUT),
    ...(longOutput.trim() !== '' ? { longOutput: cut(longOutput, MAX_LONG_OUTPUT) } : {}),
    perf: parsePerfdata(perfParts.join(' ')),
  };
}

/**
 * `'label'=value[UOM];[warn];[crit];[min];[max]`, space separated. The first of two same labels
 * wins; an item that cannot be read (no "=", no number, an unknown unit) is skipped.
 */
export function parsePerfdata(text: string): Record<string, PerfValue> {
  const out: Record<string, PerfValue> = {};
  let count = 0;
  let i = 0;
  const n = text.length;
  const isBlank = (c: string) => c === ' ' || c === '\t' || c === '\n';
  while (i < n && count < MAX_PERF) {
    while (i < n && isBlank(text[i])) i++;
    if (i >= n) break;
    let label: string | undefined;
    if (text[i] === "'") {
      // Quoted: may hold blanks and "="; '' is a quote within it.
      let j = i + 1;
      let s = '';
      for (;;) {
        if (j >= n) break;
        if (text[j] === "'") {
          if (text[j + 1] === "'") {
            s += "'";
            j += 2;
            continue;
          }
          break;
        }
        s += text[j++];
      }
      if (j < n && text[j + 1] === '=') {
        label = s;
        i = j + 2;
      } else {
        i = skipItem(text, j + 1);
        continue;
      }
    } else {
      let j = i;
      while (j < n && text[j] !== '=' && !isBlank(text[j])) j++;
      if (j >= n || text[j] !== '=') {
        i = skipItem(text, j);
        continue;
      }
      label = text.slice(i, j);
      i = j + 1;
    }
    let j = i;
    while (j < n && !isBlank(text[j])) j++;
    const value = perfValue(text.slice(i, j));
    i = j;
    if (value === undefined || !usableLabel(label) || Object.hasOwn(out, label)) continue;
    out[label] = value;
    count++;
  }
  return out;
}

function skipItem(text: string, from: number): number {
  let j = from;
  while (j < text.length && text[j] !== ' ' && text[j] !== '\t' && text[j] !== '\n') j++;
  return j;
}

/** Labels key a record the wire bounds: 1-200 characters, no NUL, nothing that names a prototype. */
function usableLabel(label: string): boolean {
  return label.trim() !== '' && label.length <= MAX_LABEL && !label.includes('\0') && label !== '__proto__';
}

/** `value[UOM];warn;crit;min;max`; undefined when the value is not a finite number (e.g. "U", undetermined). */
function perfValue(spec: string): PerfValue | undefined {
  const [head, warn, crit, min, max] = spec.split(';');
  const m = NUMBER.exec(head);
  if (!m) return undefined;
  const value = Number(m[0]);
  const uom = head.slice(m[0].length);
  if (!Number.isFinite(value) || !UOM.test(uom)) return undefined;
  const out: PerfValue = { value, uom };
  const w = threshold(warn);
  const c = threshold(crit);
  const lo = plainNumber(min);
  const hi = plainNumber(max);
  if (w !== undefined) out.warn = w;
  if (c !== undefined) out.crit = c;
  if (lo !== undefined) out.min = lo;
  if (hi !== undefined) out.max = hi;
  return out;
}

/** A plain number (a unit after it, as some plugins print on min and max, is dropped); else undefined. */
function plainNumber(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const m = NUMBER.exec(s);
  if (!m || !UOM.test(s.slice(m[0].length))) return undefined;
  const x = Number(m[0]);
  return Number.isFinite(x) ? x : undefined;
}

/** A threshold: a plain number as a number, a range expression (`10:20`, `@5`, `~:3`) as its text. */
function threshold(s: string | undefined): number | string | undefined {
  if (s === undefined || s === '') return undefined;
  const m = NUMBER.exec(s);
  if (m && m[0].length === s.length) {
    const x = Number(s);
    return Number.isFinite(x) ? x : undefined;
  }
  return s.length <= MAX_RANGE && RANGE.test(s) && /\d/.test(s) ? s : undefined;
}

/** At most `max` UTF-16 units, never splitting a surrogate pair (a lone half would be refused as text). */
export function cut(s: string, max: number): string {
  if (s.length <= max) return s;
  const end = /[\uD800-\uDBFF]/.test(s[max - 1]) ? max - 1 : max;
  return s.slice(0, end);
}
