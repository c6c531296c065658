import { pino, destination, stdTimeFunctions, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stderr, quiet by default: lifecycle and decisions at info,
 * everything chatty at debug. LAAS_LOG_LEVEL overrides (trace…fatal, silent).
 */
export function createLogger(name: string, level = process.env.LAAS_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid }, timestamp: stdTimeFunctions.isoTime }, destination({ dest: 2, sync: true }));
}

export const silentLogger: Logger = pino({ level: 'silent' });
