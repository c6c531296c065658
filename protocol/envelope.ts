import { jsonPointer } from './duration.js';
import { LaasError } from './errors.js';
import { MAX_HELLO_BYTES, MESSAGE_SCHEMAS, PROTOCOL_VERSION, type BodyOf, type Message, type MessageType } from './messages.js';
import { check } from './schema.js';

/** Largest frame either side accepts; also the WebSocket maxPayload. */
export const MAX_FRAME_BYTES = 1024 * 1024;

export function encode<T extends MessageType>(type: T, body: BodyOf<T>): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, type, body });
}

/**
 * Decodes one wire frame into a typed message, or throws a LaasError whose code says what
 * was wrong (FRAME_*). Callers never see a half-checked message.
 */
export function decode(data: string | Buffer | ArrayBuffer | Buffer[]): Message {
  const raw =
    typeof data === 'string'
      ? data
      : Buffer.isBuffer(data)
        ? data.toString('utf8')
        : Array.isArray(data)
          ? Buffer.concat(data).toString('utf8')
          : Buffer.from(data).toString('utf8');
  const bytes = Buffer.byteLength(raw);
  if (bytes > MAX_FRAME_BYTES) {
    throw new LaasError('FRAME_TOO_LARGE', `frame of ${bytes} bytes exceeds ${MAX_FRAME_BYTES}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw new LaasError('FRAME_NOT_JSON', `frame is not JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new LaasError('FRAME_BAD_ENVELOPE', 'frame must be a JSON object {v, type, body}');
  }
  const { v, type, body, ...rest } = parsed as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new LaasError('FRAME_BAD_ENVELOPE', `unknown envelope field ${JSON.stringify(extra[0])}`);
  if (v !== PROTOCOL_VERSION) {
    throw new LaasError('FRAME_UNSUPPORTED_VERSION', `protocol version ${JSON.stringify(v)} is not supported (this side speaks ${PROTOCOL_VERSION})`);
  }
  if (typeof type !== 'string') throw new LaasError('FRAME_BAD_ENVELOPE', 'frame has no string "type"');
  if (!Object.hasOwn(MESSAGE_SCHEMAS, type)) {
    throw new LaasError('FRAME_UNKNOWN_TYPE', `unknown message type ${JSON.stringify(type.slice(0, 100))}`);
  }
  if (type === 'hello' && bytes > MAX_HELLO_BYTES) {
    throw new LaasError('FRAME_TOO_LARGE', `hello of ${bytes} bytes exceeds ${MAX_HELLO_BYTES}: fewer or shorter labels, service and script names`);
  }
  const schema = MESSAGE_SCHEMAS[type as MessageType];
  const result = check(schema, body);
  if (!result.ok) {
    const issue = result.issues[0];
    throw new LaasError('FRAME_BAD_BODY', `${type} ${jsonPointer(['body', ...issue.path])}: ${issue.message}`);
  }
  return { type, body: result.value } as Message;
}
