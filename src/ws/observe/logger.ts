/**
 * What the framework logs through. pino's `Logger` fits as it is; any logger with these methods
 * does. Lines are `(fields, message)`: the fields are what a log shipper indexes.
 */

/** One level's method: `log.info({ path }, 'connected')`, or a message alone. */
export interface LogFn {
  (fields: object, message?: string): void;
  (message: string): void;
}

/** The logger the framework is given (`RealtimeOptions.logger`). */
export interface Logger {
  /** A logger whose every line carries `bindings` too. */
  child(bindings: Record<string, unknown>): Logger;
  /** Whether a line at `level` would be written (the framework builds costly fields only then). */
  isLevelEnabled(level: string): boolean;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const nothing: LogFn = () => {};

/** A logger that writes nothing (a default where no logger was given, tests). */
export const silentLogger: Logger = {
  child: () => silentLogger,
  isLevelEnabled: () => false,
  debug: nothing,
  info: nothing,
  warn: nothing,
  error: nothing,
};
