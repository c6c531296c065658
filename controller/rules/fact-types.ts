import { sampleFacts } from '../../protocol/index.js';
import { ANY_KEY, type PathTokens } from './path.js';

export type ValueKind = 'number' | 'boolean' | 'string' | 'object' | 'array' | 'unknown' | 'missing';

/** The parts of a valibot schema walked here; pipes keep their root schema's type and fields. */
interface SchemaNode {
  type: string;
  wrapped?: SchemaNode;
  entries?: Record<string, SchemaNode>;
  value?: SchemaNode;
  item?: SchemaNode;
}

const KINDS: Record<string, ValueKind> = {
  number: 'number',
  boolean: 'boolean',
  string: 'string',
  picklist: 'string',
  object: 'object',
  strict_object: 'object',
  loose_object: 'object',
  record: 'object',
  array: 'array',
};

/**
 * What a rule path reads, from the sample schema (protocol/facts.ts): a windowed `avg` over a
 * string, or a path to a field no fact has, is refused when the rule loads rather than never
 * firing. `missing` is a field the schema does not have; `unknown` is what it cannot tell (the
 * `host` fact, unions).
 */
export function kindAt(fact: string, tokens: PathTokens): ValueKind {
  if (!Object.hasOwn(sampleFacts, fact)) return 'unknown';
  let node = sampleFacts[fact as keyof typeof sampleFacts] as unknown as SchemaNode;
  for (const t of tokens) {
    while (node.type === 'optional' || node.type === 'nullable' || node.type === 'nullish') node = node.wrapped!;
    if (node.entries) {
      if (t === ANY_KEY || typeof t !== 'string' || !Object.hasOwn(node.entries, t)) return 'missing';
      node = node.entries[t];
    } else if (node.type === 'record' && node.value) {
      if (typeof t === 'number') return 'missing';
      node = node.value;
    } else if (node.type === 'array' && node.item) {
      if (typeof t === 'string') return t === 'length' ? 'number' : 'missing';
      node = node.item;
    } else return node.type in KINDS ? 'missing' : 'unknown';
  }
  while (node.type === 'optional' || node.type === 'nullable' || node.type === 'nullish') node = node.wrapped!;
  return KINDS[node.type] ?? 'unknown';
}
