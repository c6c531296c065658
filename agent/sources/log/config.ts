import { isAbsolute } from 'node:path';
import { RE2JS } from 're2js';
import * as v from 'valibot';
import { durationAtLeast, identifier, strictObject } from '../../../protocol/index.js';

/** Log patterns the agent follows: the fact `log` has room for this many. */
export const MAX_LOGS = 200;
/** A pattern this long still compiles in milliseconds; longer is a mistake, not a log pattern. */
const MAX_PATTERN = 4096;

const FILE = 'expected an absolute path to a log file like "/var/log/app.log"';
const logFile = v.pipe(
  v.string(FILE),
  v.maxLength(4096),
  v.check((p) => isAbsolute(p) && !p.includes('\0'), FILE),
);
/** Unit names as systemd spells them; a leading "-" would be read by journalctl as an option. */
const unit = v.pipe(v.string(), v.regex(/^[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]*$/, 'expected a systemd unit name like "nginx" or "nginx.service"'));

/** Why `pattern` cannot be matched, or undefined: RE2 syntax, so matching takes time linear in the line. */
function patternProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'must not be empty';
  if (pattern.length > MAX_PATTERN) return `regex longer than ${MAX_PATTERN} characters`;
  try {
    RE2JS.compile(pattern);
    return undefined;
  } catch (e) {
    return `invalid regular expression (RE2 syntax: no backreferences or lookaround): ${(e as Error).message.replace(/^error parsing regexp: /, '')}`;
  }
}

const durationMessage = (issue: { input: unknown }) => `expected a duration like "1m", "5m" or "1h", got ${JSON.stringify(issue.input)}`;

const logEntry = v.pipe(
  strictObject(
    {
      name: identifier(200),
      /** A file, followed across rotation (rename and create, or copytruncate). */
      file: v.optional(logFile),
      /** A systemd unit, read from the journal. */
      unit: v.optional(unit),
      /** RE2 syntax, matched anywhere in the line ("ERROR|FATAL"); "(?i)" makes it ignore case. */
      match: v.pipe(
        v.string('expected a regular expression like "ERROR|FATAL"'),
        v.check(
          (p) => patternProblem(p) === undefined,
          (issue) => patternProblem(issue.input) ?? 'invalid',
        ),
      ),
      /** Matches are counted over this sliding window. */
      window: v.optional(v.pipe(durationAtLeast(10_000, undefined, durationMessage), v.maxValue(86_400_000, 'must be at most 1d')), '5m'),
    },
    'expected an object like {"name": "app-errors", "file": "/var/log/app.log", "match": "ERROR"}',
  ),
  v.check((e) => (e.file === undefined) !== (e.unit === undefined), 'expected exactly one of "file" and "unit"'),
);

/** The `logs` section of agent.json: a list of log patterns, names unique. */
export const logsConfig = v.pipe(
  v.array(logEntry, 'expected a list of log patterns'),
  v.maxLength(MAX_LOGS, `at most ${MAX_LOGS} log patterns`),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const seen = new Map<string, number>();
    dataset.value.forEach((e, i) => {
      const first = seen.get(e.name);
      if (first === undefined) seen.set(e.name, i);
      else
        addIssue({
          message: `duplicate log name ${JSON.stringify(e.name)} (first at /logs/${first})`,
          path: [{ type: 'array', origin: 'value', input: dataset.value, key: i, value: e }],
        });
    });
  }),
);

export type LogConfig = v.InferOutput<typeof logEntry>;
