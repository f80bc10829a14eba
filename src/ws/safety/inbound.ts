/**
 * Limits on what one connection sends: a message rate (token bucket), a bound on messages
 * waiting for the handler, and a tolerance for messages sent while limited, past which the peer
 * is treated as abusive.
 */
import type { Limits } from './limits.ts';
import { TokenBucket } from './token-bucket.ts';

/** `ok`: handle it; `limited`: answer `rate_limited`; `abusive`: close with 1008. */
export type InboundVerdict = 'ok' | 'limited' | 'abusive';

/**
 * Returns the gate of one connection; called for each frame, with the number of its messages
 * still waiting for the handler, before any parsing.
 */
export function inboundGate(
  limits: Pick<Limits, 'messageRate' | 'messageBurst' | 'maxRejected' | 'maxPendingMessages'>,
): (pending: number) => InboundVerdict {
  const messages = limits.messageRate > 0 ? new TokenBucket(limits.messageRate, Math.max(1, limits.messageBurst)) : null;
  // Rejections refill at a quarter of the message rate: a client sustaining more than 1.25 times
  // the rate drains it and is closed; one that overshoots for a moment and slows down is not.
  const rejections = messages ? new TokenBucket(limits.messageRate / 4, Math.max(1, limits.maxRejected)) : null;
  return function admitMessage(pending) {
    // A full queue is the server's slowness, not the client's abuse: it is told to slow down
    // but not closed for it.
    if (pending >= limits.maxPendingMessages) return 'limited';
    if (!messages || messages.take()) return 'ok';
    return rejections!.take() ? 'limited' : 'abusive';
  };
}
