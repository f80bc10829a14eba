/**
 * Structured logging (pino). One logger per app; modules take a child with their own bindings.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

/** Creates the app logger. `level` is a pino level or `silent`. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { pid: process.pid } });
}
