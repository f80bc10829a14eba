/**
 * Limits on what one connection sends: a message rate (token bucket), a bound on messages
 * waiting for the handler, and a tolerance for messages sent while limited, past which the peer
 * is treated as abusive.
 */
import type { Limits } from './limits.ts';
import { TokenBucket } from './token-bucket.ts';

/** `ok`: handle it; `limited`: answer `rate_limited`; `abusive`: close with 1008. */
export type InboundVerdict = 'ok' | 'limited' | 'abusive';

type InboundLimits = Pick<Limits, 'messageRate' | 'messageBurst' | 'maxRejected' | 'maxPendingMessages'>;

/** The gate of one connection (a connection builds it at its first message: idle ones pay nothing). */
export class InboundGate {
  readonly #limits: InboundLimits;
  readonly #messages: TokenBucket | null;
  readonly #rejections: TokenBucket | null;

  constructor(limits: InboundLimits) {
    this.#limits = limits;
    this.#messages = limits.messageRate > 0 ? new TokenBucket(limits.messageRate, Math.max(1, limits.messageBurst)) : null;
    // Rejections refill at a quarter of the message rate: a client sustaining more than 1.25 times
    // the rate drains it and is closed; one that overshoots for a moment and slows down is not.
    this.#rejections = this.#messages ? new TokenBucket(limits.messageRate / 4, Math.max(1, limits.maxRejected)) : null;
  }

  /** Called for each frame, with the number of its messages still waiting for the handler, before any parsing. */
  admit(pending: number): InboundVerdict {
    // A full queue is the server's slowness, not the client's abuse: it is told to slow down
    // but not closed for it.
    if (pending >= this.#limits.maxPendingMessages) return 'limited';
    if (!this.#messages || this.#messages.take()) return 'ok';
    return this.#rejections!.take() ? 'limited' : 'abusive';
  }
}
