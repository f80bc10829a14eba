/**
 * Node 20 has no global `ErrorEvent` (Node 22 does). @hono/node-ws builds one for every socket
 * error, so without it each peer error (oversized frame, invalid UTF-8, reset) turns into a
 * ReferenceError printed to stderr and our `onError` never sees the real error.
 */
if (typeof globalThis.ErrorEvent === 'undefined') {
  class ErrorEvent extends Event {
    readonly error: unknown;
    readonly message: string;

    constructor(type: string, init: { error?: unknown; message?: string } = {}) {
      super(type);
      this.error = init.error;
      this.message = init.message ?? (init.error instanceof Error ? init.error.message : '');
    }
  }
  Object.defineProperty(globalThis, 'ErrorEvent', { value: ErrorEvent, writable: true, configurable: true });
}
