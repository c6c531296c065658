import { isAbsolute } from 'node:path';
import * as v from 'valibot';
import { durationAtLeast, identifier, strictObject, wholeNumber } from '../../../protocol/index.js';

/**
 * The budget of every scrape source's series together, in bytes: the metric fact must leave room
 * in a sample for every other fact, within the link's 1 MiB frame (protocol/envelope.ts).
 */
export const TOTAL_MAX_BYTES = 512 * 1024;
/** Sources of series (the fact schema keys at most 50). */
export const MAX_SOURCES = 50;
/** Series per source the schema leaves room for besides the synthetic ones (it keys at most 5000). */
export const MAX_SERIES = 4800;

const durationMessage = (issue: { input: unknown }) => `expected a duration like "15s" or "1m", got ${JSON.stringify(issue.input)}`;
const wholeIn = (min: number, max: number) => {
  const message = `expected a whole number from ${min} to ${max}`;
  return v.pipe(wholeNumber(message), v.minValue(min, message), v.maxValue(max, message));
};

const URL_MESSAGE = 'expected an http:// or https:// URL like "http://127.0.0.1:9113/metrics"';
const scrapeUrl = v.pipe(
  v.string(URL_MESSAGE),
  v.check((s) => {
    try {
      return /^https?:\/\//i.test(s) && ['http:', 'https:'].includes(new URL(s).protocol);
    } catch {
      return false;
    }
  }, URL_MESSAGE),
);

const DIR_MESSAGE = 'expected an absolute directory path like "/var/lib/prometheus/node-exporter"';
const textfileDir = v.pipe(
  v.string(DIR_MESSAGE),
  v.check((p) => isAbsolute(p) && !p.includes('\0'), DIR_MESSAGE),
);

/** A regular expression over the whole metric name, as Prometheus anchors them. */
const nameRegex = v.pipe(
  v.string('expected a regular expression like "nginx_.*"'),
  v.maxLength(1000),
  v.check(
    (s) => {
      try {
        new RegExp(`^(?:${s})$`);
        return true;
      } catch {
        return false;
      }
    },
    (issue) => `not a valid regular expression: ${JSON.stringify(issue.input)}`,
  ),
);

const scrapeEntry = v.pipe(
  strictObject(
    {
      /** Keys the source's series in the metric fact: `$.nginx.up`. */
      name: identifier(200),
      /** An exporter's page; or `textfile`, a directory of *.prom files (node_exporter's textfile collector). */
      url: v.optional(scrapeUrl),
      textfile: v.optional(textfileDir),
      interval: v.optional(durationAtLeast(1000, undefined, durationMessage), '15s'),
      /** For the whole answer, body included: a slow body is cut off. Default: 5s, or the interval if shorter. */
      timeout: v.optional(durationAtLeast(100, undefined, durationMessage)),
      maxSeries: v.optional(wholeIn(1, MAX_SERIES), 500),
      maxBytes: v.optional(wholeIn(1024, TOTAL_MAX_BYTES), 65_536),
      /** Largest page (or .prom file) read; a bigger one is an error, not a partial read. */
      maxBodyBytes: v.optional(wholeIn(1024, 64 * 1024 * 1024), 8 * 1024 * 1024),
      match: v.optional(v.pipe(v.array(nameRegex, 'expected a list of regular expressions like ["nginx_.*"]'), v.maxLength(100))),
    },
    'expected an object like {"name": "nginx", "url": "http://127.0.0.1:9113/metrics"}',
  ),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const s = dataset.value;
    if ((s.url === undefined) === (s.textfile === undefined)) addIssue({ message: 'expected exactly one of "url" and "textfile"' });
    else if (s.timeout !== undefined && s.timeout > s.interval) addIssue({ message: 'timeout must not exceed interval', path: [pathItem(s, 'timeout')] });
  }),
  v.transform((s) => ({ ...s, timeout: s.timeout ?? Math.min(5000, s.interval) })),
);

/** `"scrape": [...]` in agent.json: Prometheus exporters and textfile directories, their series in the `metric` fact. */
export const scrapeConfig = v.pipe(
  v.array(scrapeEntry, 'expected a list like [{"name": "nginx", "url": "http://127.0.0.1:9113/metrics"}]'),
  v.maxLength(MAX_SOURCES, `at most ${MAX_SOURCES} scrape sources`),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const seen = new Map<string, number>();
    let bytes = 0;
    dataset.value.forEach((s, i) => {
      const first = seen.get(s.name);
      if (first === undefined) seen.set(s.name, i);
      else
        addIssue({
          message: `duplicate scrape name ${JSON.stringify(s.name)} (first at /scrape/${first})`,
          path: [pathItem(dataset.value, i), pathItem(s, 'name')],
        });
      bytes += s.maxBytes;
    });
    if (bytes > TOTAL_MAX_BYTES) addIssue({ message: `the sources' maxBytes add up to ${bytes}, over the ${TOTAL_MAX_BYTES} a sample has room for` });
  }),
);

export type ScrapeConfig = v.InferOutput<typeof scrapeConfig>;
export type ScrapeEntry = ScrapeConfig[number];

function pathItem(input: Record<string, unknown> | unknown[], key: string | number): v.IssuePathItem {
  return Array.isArray(input)
    ? { type: 'array', origin: 'value', input, key: key as number, value: input[key as number] }
    : { type: 'object', origin: 'value', input, key: key as string, value: input[key as string] };
}
