/**
 * @hono/node-ws reports socket errors as `new ErrorEvent(...)`, a global that Node 20 lacks
 * (Node 22 has it): without this, every socket error (a 1009, a reset) throws a ReferenceError
 * inside its listener and the error never reaches our handler.
 */
if (typeof globalThis.ErrorEvent === 'undefined') {
  class ErrorEventPolyfill extends Event {
    readonly error: unknown;
    readonly message: string;
    constructor(type: string, init: { error?: unknown; message?: string } = {}) {
      super(type);
      this.error = init.error;
      this.message = init.message ?? (init.error instanceof Error ? init.error.message : '');
    }
  }
  (globalThis as { ErrorEvent?: unknown }).ErrorEvent = ErrorEventPolyfill;
}
