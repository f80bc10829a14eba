import { ErrorCode } from '../protocol/codes.ts';

/**
 * Thrown by an `onMessage` handler to refuse one message on purpose: the client receives
 * `{ type: 'error', data: { code, error }, id }` with this code and text, the connection stays
 * open, and nothing is logged as a failure. Any other throw is logged and answered with the
 * generic `handler_error`, so that internals never leak to clients.
 * @example
 * if (!ctx.roles.includes('editor')) throw new MessageError('only editors may delete bubbles')
 */
export class MessageError extends Error {
  override readonly name = 'MessageError';

  constructor(
    message: string,
    readonly code: string = ErrorCode.FORBIDDEN,
  ) {
    super(message);
  }
}
