import * as v from 'valibot';
import { sampleFacts, type serviceFacts } from './facts.js';
import { finiteNumber, freeText, hostLabels, identifier, plainText, record, strictObject, text, wholeNumber } from './schema.js';

/** Bumped on any incompatible change of a message below. */
export const PROTOCOL_VERSION = 1;

/** Ids and names: no control characters, no blanks around them (they key records and are typed back). */
const name = identifier(200);
const num = finiteNumber();
const int = wholeNumber();
const positiveInt = v.pipe(wholeNumber(), v.gtValue(0));
const nonNegativeInt = v.pipe(wholeNumber(), v.minValue(0));

/**
 * Largest hello: a host's whole inventory (ids, labels, service and script names, result ids)
 * is kept for as long as it is connected, so it is held to a quarter of a frame.
 */
export const MAX_HELLO_BYTES = 256 * 1024;

export const helloBody = strictObject({
  agentId: name,
  agentVersion: plainText(50),
  hostname: plainText(255),
  labels: hostLabels(),
  os: strictObject({ platform: plainText(50), release: plainText(100), distro: v.optional(plainText(200)) }),
  /** Sampling interval, so the controller can tell when a host went quiet. */
  intervalMs: positiveInt,
  /** Random per agent process: a new value means the agent restarted (and lost what it was running). */
  instance: v.optional(plainText(100)),
  /** Ids of results this agent holds (e.g. from before its restart) and sends after the welcome. */
  results: v.optional(v.pipe(v.array(name), v.maxLength(2000))),
  services: v.pipe(v.array(name), v.maxLength(1000)),
  actions: v.pipe(v.array(name), v.maxLength(100)),
  scripts: v.pipe(v.array(name), v.maxLength(1000)),
});

export const welcomeBody = strictObject({
  hostId: name,
  controllerVersion: plainText(50),
  /** The controller's instruction-signing public key (PEM), so an agent can show what it pins. */
  signingKey: v.optional(text(1000)),
});

export const sampleBody = strictObject({
  seq: nonNegativeInt,
  ts: nonNegativeInt,
  /** Why the sample was sent: periodic, or at once because a watched service changed. */
  trigger: v.picklist(['interval', 'service-change', 'check-change', 'startup', 'request']),
  /** Held back while the link was down and sent late: a record of the past, not the host's state now. */
  buffered: v.optional(v.literal(true)),
  ...sampleFacts,
});

export const runBody = strictObject({
  id: name,
  /** The host this instruction is for: signed, so it cannot be replayed on another host. */
  host: name,
  action: name,
  params: record(v.string(), v.unknown()),
  timeoutMs: v.pipe(positiveInt, v.maxValue(3_600_000)),
  /** Epoch ms after which the agent must not start the action. */
  deadline: positiveInt,
  /** The controller's Ed25519 signature (base64) over the fields above; agents that pin its key require it. */
  sig: v.optional(text(200)),
});

export const ackBody = strictObject({ id: name });

/** The controller asks for a fresh sample now (e.g. to verify a heal); probes run first. */
export const collectBody = strictObject({ reason: text(100) });

export const resultOutcome = v.picklist(['succeeded', 'failed', 'refused', 'timed-out']);

export const resultBody = strictObject({
  id: name,
  action: name,
  outcome: resultOutcome,
  exitCode: v.nullable(int),
  signal: v.nullable(plainText(20)),
  stdout: freeText(1_000_000),
  stderr: freeText(1_000_000),
  truncated: v.boolean(),
  startedAt: nonNegativeInt,
  durationMs: v.pipe(num, v.minValue(0)),
  /** Why it was refused or failed before running, with the stable error code. */
  error: v.optional(strictObject({ code: plainText(100), message: freeText(2000) })),
});

/** Every message type → its body schema. The decoder refuses any other type. */
export const MESSAGE_SCHEMAS = {
  hello: helloBody,
  welcome: welcomeBody,
  sample: sampleBody,
  run: runBody,
  ack: ackBody,
  result: resultBody,
  collect: collectBody,
} as const;

export type MessageType = keyof typeof MESSAGE_SCHEMAS;
export type Hello = v.InferOutput<typeof helloBody>;
export type Welcome = v.InferOutput<typeof welcomeBody>;
export type Sample = v.InferOutput<typeof sampleBody>;
export type Run = v.InferOutput<typeof runBody>;
export type Ack = v.InferOutput<typeof ackBody>;
export type Result = v.InferOutput<typeof resultBody>;
export type ResultOutcome = v.InferOutput<typeof resultOutcome>;
export type ServiceFacts = v.InferOutput<typeof serviceFacts>;

export type Message = {
  [K in MessageType]: { type: K; body: v.InferOutput<(typeof MESSAGE_SCHEMAS)[K]> };
}[MessageType];

export type BodyOf<T extends MessageType> = v.InferOutput<(typeof MESSAGE_SCHEMAS)[T]>;
