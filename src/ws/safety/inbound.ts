/**
 * Limits on what one connection sends: a message rate (token bucket) and a tolerance for
 * messages sent while rate limited, past which the peer is treated as abusive.
 */
import type { Limits } from './limits.ts';
import { TokenBucket } from './token-bucket.ts';

/** `ok`: handle it; `limited`: answer `rate_limited`; `abusive`: close with 1008. */
export type InboundVerdict = 'ok' | 'limited' | 'abusive';

/** Returns the gate of one connection; called for each frame before any parsing. */
export function inboundGate(limits: Pick<Limits, 'messageRate' | 'messageBurst' | 'maxRejected'>): () => InboundVerdict {
  if (limits.messageRate <= 0) return () => 'ok';
  const messages = new TokenBucket(limits.messageRate, Math.max(1, limits.messageBurst));
  // Rejections refill at a quarter of the message rate: a client sustaining more than 1.25 times
  // the rate drains it and is closed; one that overshoots for a moment and slows down is not.
  const rejections = new TokenBucket(limits.messageRate / 4, Math.max(1, limits.maxRejected));
  return function admitMessage() {
    if (messages.take()) return 'ok';
    return rejections.take() ? 'limited' : 'abusive';
  };
}
