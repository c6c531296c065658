import { isAbsolute } from 'node:path';
import * as v from 'valibot';
import { identifier } from '../../protocol/index.js';

// Pieces the sections of agent.json for cert, ping and DNS sources share, worded as agent/config.ts words its own.

export { durationMin } from '../config-parts.js';

/** The name a result is keyed by in its fact (and in rules' paths). */
export const sourceName = identifier(200);

export function absolutePath(example: string) {
  const message = `expected an absolute path like "${example}"`;
  return v.pipe(
    v.string(message),
    v.maxLength(4096),
    v.check((p) => isAbsolute(p) && !p.includes('\0'), message),
  );
}

/** A host name or IP address as a command-line argument: never something a program reads as an option. */
export const hostName = v.pipe(v.string(), v.regex(/^(?!-)[A-Za-z0-9_.:%-]{1,253}$/, 'expected a host name or IP address like "10.0.0.1" or "gw.example.com"'));

/** A list of entries named uniquely (each name keys one result), at most `max` long. */
export function namedList<const T extends v.GenericSchema<unknown, { name: string }>>(item: T, max: number) {
  return v.pipe(
    v.array(item, 'expected a list'),
    v.maxLength(max, `at most ${max} entries`),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const list = dataset.value;
      const seen = new Map<string, number>();
      list.forEach((entry, i) => {
        const first = seen.get(entry.name);
        if (first === undefined) return void seen.set(entry.name, i);
        addIssue({
          message: `duplicate name ${JSON.stringify(entry.name)} (first at index ${first})`,
          path: [
            { type: 'array', origin: 'value', input: list, key: i, value: entry },
            { type: 'object', origin: 'value', input: entry, key: 'name', value: entry.name },
          ],
        });
      });
    }),
  );
}
