/**
 * Structured logging (pino). One logger per app; modules take a child with their own bindings
 * (a connection's child carries clientId, path, username and ip). Every line logged while a
 * message or request is handled carries its `correlationId`.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { correlationId } from 'hono-namespaces';

export type { Logger };

/** `json`: one JSON object per line; `pretty`: human-readable; `auto`: pretty on a terminal. */
export type LogFormat = 'auto' | 'json' | 'pretty';

/** Options of `createLogger`. */
export interface LoggerOptions {
  /** Default `auto`. Ignored when `destination` is given (a stream gets JSON). */
  format?: LogFormat;
  /** Where lines go; default stdout. Tests pass a stream to read the lines back. */
  destination?: DestinationStream;
}

/** Creates the app logger. `level` is a pino level or `silent`. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', options: LoggerOptions = {}): Logger {
  const settings = {
    level,
    base: { pid: process.pid },
    // pino merges the line's fields into the returned object: it must be a fresh one every time.
    mixin: () => {
      const id = correlationId();
      return id ? { correlationId: id } : {};
    },
  };
  if (options.destination) return pino(settings, options.destination);
  const format = options.format ?? 'auto';
  const usePretty = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
  // pino-pretty as a stream in this thread (not a worker transport): simple, and a terminal is a
  // human watching, where throughput does not matter.
  return usePretty ? pino(settings, pretty({ colorize: process.stdout.isTTY === true, ignore: 'pid' })) : pino(settings);
}
