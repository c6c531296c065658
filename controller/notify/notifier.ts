import type { z } from 'zod';
import type { Logger } from '../../protocol/index.js';

/** One alert as notifiers see it: the fields people read, flattened to labels/annotations. */
export interface AlertNotice {
  id: string;
  status: 'firing' | 'resolved';
  rule: string;
  host: string;
  severity: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string | null;
  fingerprint: string;
}

/** What one send carries: a receiver gets every alert of one group change at once. */
export interface Notification {
  receiver: string;
  status: 'firing' | 'resolved';
  alerts: AlertNotice[];
  groupKey: string;
  groupLabels: Record<string, string>;
  externalUrl: string;
}

export interface Notifier {
  readonly receiver: string;
  send(n: Notification, signal: AbortSignal): Promise<void>;
  /** Stops timers and closes connections the notifier keeps between sends, if any. */
  close?(): void;
}

export interface NotifierDeps {
  log: Logger;
}

/** A kind of notifier: its config schema (checked at start-up) and how to build one. */
export interface NotifierKind<S extends z.ZodType = z.ZodType> {
  readonly type: string;
  readonly configSchema: S;
  create(receiver: string, config: z.output<S>, deps: NotifierDeps): Notifier;
}
