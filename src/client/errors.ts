/**
 * Why a request (a message sent with an id) did not get its `ack`.
 */

/** Failures the client itself detects; any other code is an `ErrorCode` sent by the server. */
export const ClientErrorCode = {
  /** `request()` was called while the client was not connected; nothing was sent. */
  NOT_CONNECTED: 'not_connected',
  /** The socket closed before the reply came: the server may or may not have handled it. */
  DISCONNECTED: 'disconnected',
  /** No reply within the request timeout: the server may or may not have handled it. */
  TIMEOUT: 'timeout',
} as const;

/**
 * A rejected request. `code` is one of `ClientErrorCode`, or the `code` of the server's `error`
 * reply (`ErrorCode` in `src/protocol/codes.ts`, or a handler's own `MessageError` code), in which case
 * `fromServer` is true.
 */
export class RequestError extends Error {
  override readonly name = 'RequestError';

  constructor(
    readonly code: string,
    message: string,
    readonly fromServer = false,
  ) {
    super(message);
  }
}
