/**
 * Close codes and error codes of the wire protocol, shared by the server and the client.
 *
 * Close codes 4400-4499 are permanent refusals (the client must not retry); the standard codes
 * 1001, 1006, 1012 and 1013 are retryable. This module has no Node imports: the browser client
 * bundles it.
 */
export const CloseCode = {
  /** Normal closure (the client or the server closed on purpose). */
  NORMAL: 1000,
  /** The server is going away (page navigation, process exit without restart). Retryable. */
  GOING_AWAY: 1001,
  /** Abnormal closure: no close frame (network drop). Never sent, only observed. Retryable. */
  ABNORMAL: 1006,
  /** A text frame that is not valid UTF-8 (sent by ws, RFC 6455). */
  INVALID_PAYLOAD: 1007,
  /** Sustained policy abuse (rate limit). */
  POLICY_VIOLATION: 1008,
  /** A frame larger than the configured maximum payload. */
  MESSAGE_TOO_BIG: 1009,
  /** The server restarts (graceful shutdown). Retryable. */
  SERVICE_RESTART: 1012,
  /** Overload or slow consumer: come back later. Retryable. */
  TRY_AGAIN_LATER: 1013,
  /** Route params failed validation (e.g. an invalid room name). Permanent. */
  INVALID_PARAMS: 4400,
  /** The namespace requires a session and there is none. Permanent. */
  UNAUTHORIZED: 4401,
  /** Roles missing, or `onCreate` returned null. Permanent. */
  FORBIDDEN: 4403,
  /** No namespace pattern matches the path. Permanent. */
  NOT_FOUND: 4404,
  /** The namespace was removed on the server (resource gone). Permanent. */
  NAMESPACE_REMOVED: 4410,
  /**
   * A multiplexed socket holds its maximum of subscriptions (`unsubscribed` of that path only; the
   * socket stays). Permanent for that subscribe: unsubscribe something first.
   */
  TOO_MANY_SUBSCRIPTIONS: 4429,
} as const;

export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode];

/** Whether a close code is a permanent refusal that a client must not retry. */
export function isPermanentClose(code: number): boolean {
  return code >= 4400 && code <= 4499;
}

/** Codes carried in `{ type: 'error', data: { code, error } }` frames; the connection stays open. */
export const ErrorCode = {
  /** The frame is not valid JSON. */
  BAD_JSON: 'bad_json',
  /** Valid JSON but not `{ type: string, data?, id?: string }`. */
  BAD_MESSAGE: 'bad_message',
  /** The namespace declares no message of this type. */
  UNKNOWN_TYPE: 'unknown_type',
  /** `data` does not match the schema declared for the type. */
  INVALID_DATA: 'invalid_data',
  /** Binary frames are not accepted. */
  BINARY_NOT_SUPPORTED: 'binary_not_supported',
  /** The handler threw an unexpected error (logged on the server). */
  HANDLER_ERROR: 'handler_error',
  /** The handler refused the message on purpose (see `MessageError`). */
  FORBIDDEN: 'forbidden',
  /** Too many messages in too short a time. */
  RATE_LIMITED: 'rate_limited',
  /**
   * A broadcast the message caused could not be sequenced and published (the broker is down):
   * nobody got it. Retryable.
   */
  UNAVAILABLE: 'unavailable',
  /** A multiplexed frame names a path this socket is not subscribed to (or whose subscribe is pending). */
  NOT_SUBSCRIBED: 'not_subscribed',
  /** A `subscribe` for a path this socket already holds (or is subscribing to). */
  ALREADY_SUBSCRIBED: 'already_subscribed',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];
