/**
 * Reconnect delays: "full jitter" exponential backoff. Spreading retries uniformly over
 * `[0, min(maxMs, baseMs * 2^attempt))` keeps a crowd of clients that lost the same server from
 * coming back in lockstep (see the AWS architecture note "Exponential Backoff And Jitter").
 */

/** Backoff bounds, in milliseconds. */
export interface BackoffOptions {
  /** Ceiling of the first retry's delay. Default 500. */
  baseMs?: number;
  /** Largest delay ever waited. Default 20000. */
  maxMs?: number;
}

/** Defaults used by the client. */
export const DEFAULT_BACKOFF = { baseMs: 500, maxMs: 20_000 } as const;

/**
 * The delay before retry number `attempt` (0 for the first retry).
 * @param random a source of numbers in [0, 1); injectable so tests can pin the jitter.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const { baseMs = DEFAULT_BACKOFF.baseMs, maxMs = DEFAULT_BACKOFF.maxMs } = options;
  // Past ~2^30 the product is far above any sane cap; clamping the exponent avoids Infinity.
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.floor(random() * ceiling);
}
