import { z } from 'zod';

/** Bumped on any incompatible change of a message below. */
export const PROTOCOL_VERSION = 1;

const name = z.string().min(1).max(200);
const labels = z.record(z.string().max(100), z.string().max(200));
const num = z.number().finite();
const text = (max: number) => z.string().max(max);

export const helloBody = z.strictObject({
  agentId: name,
  agentVersion: text(50),
  hostname: text(255),
  labels,
  os: z.strictObject({ platform: text(50), release: text(100), distro: text(200).optional() }),
  /** Sampling interval, so the controller can tell when a host went quiet. */
  intervalMs: z.number().int().positive(),
  /** Random per agent process: a new value means the agent restarted (and lost what it was running). */
  instance: text(100).optional(),
  /** Ids of results this agent holds (e.g. from before its restart) and sends after the welcome. */
  results: z.array(name).max(2000).optional(),
  services: z.array(name).max(1000),
  actions: z.array(name).max(100),
  scripts: z.array(name).max(1000),
});

export const welcomeBody = z.strictObject({
  hostId: name,
  controllerVersion: text(50),
  /** The controller's instruction-signing public key (PEM), so an agent can show what it pins. */
  signingKey: text(1000).optional(),
});

const cpuFacts = z.strictObject({ usage: num, load1: num, load5: num, load15: num });
const memoryFacts = z.strictObject({ usedPercent: num, availableBytes: num, totalBytes: num });
const diskFacts = z.strictObject({ usedPercent: num, freeBytes: num, totalBytes: num });
const netFacts = z.strictObject({ rxBytesPerSec: num, txBytesPerSec: num });
const serviceFacts = z.strictObject({
  up: z.boolean(),
  /** Epoch ms of the last change of `up`. */
  since: z.number().int(),
  detail: text(500).optional(),
});

export const sampleBody = z.strictObject({
  seq: z.number().int().nonnegative(),
  ts: z.number().int().nonnegative(),
  /** Why the sample was sent: periodic, or at once because a watched service changed. */
  trigger: z.enum(['interval', 'service-change', 'startup', 'request']),
  /** Held back while the link was down and sent late: a record of the past, not the host's state now. */
  buffered: z.literal(true).optional(),
  cpu: cpuFacts.optional(),
  memory: memoryFacts.optional(),
  disk: z.record(text(500), diskFacts).optional(),
  net: z.record(text(100), netFacts).optional(),
  service: z.record(name, serviceFacts).optional(),
});

export const runBody = z.strictObject({
  id: name,
  /** The host this instruction is for: signed, so it cannot be replayed on another host. */
  host: name,
  action: name,
  params: z.record(z.string(), z.unknown()),
  timeoutMs: z.number().int().positive().max(3_600_000),
  /** Epoch ms after which the agent must not start the action. */
  deadline: z.number().int().positive(),
  /** The controller's Ed25519 signature (base64) over the fields above; agents that pin its key require it. */
  sig: z.string().max(200).optional(),
});

export const ackBody = z.strictObject({ id: name });

/** The controller asks for a fresh sample now (e.g. to verify a heal); probes run first. */
export const collectBody = z.strictObject({ reason: text(100) });

export const resultOutcome = z.enum(['succeeded', 'failed', 'refused', 'timed-out']);

export const resultBody = z.strictObject({
  id: name,
  action: name,
  outcome: resultOutcome,
  exitCode: z.number().int().nullable(),
  signal: z.string().max(20).nullable(),
  stdout: text(1_000_000),
  stderr: text(1_000_000),
  truncated: z.boolean(),
  startedAt: z.number().int().nonnegative(),
  durationMs: z.number().nonnegative(),
  /** Why it was refused or failed before running, with the stable error code. */
  error: z.strictObject({ code: text(100), message: text(2000) }).optional(),
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
export type Hello = z.infer<typeof helloBody>;
export type Welcome = z.infer<typeof welcomeBody>;
export type Sample = z.infer<typeof sampleBody>;
export type Run = z.infer<typeof runBody>;
export type Ack = z.infer<typeof ackBody>;
export type Result = z.infer<typeof resultBody>;
export type ResultOutcome = z.infer<typeof resultOutcome>;
export type ServiceFacts = z.infer<typeof serviceFacts>;

export type Message = {
  [K in MessageType]: { type: K; body: z.infer<(typeof MESSAGE_SCHEMAS)[K]> };
}[MessageType];

export type BodyOf<T extends MessageType> = z.infer<(typeof MESSAGE_SCHEMAS)[T]>;
