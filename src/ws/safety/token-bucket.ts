/**
 * A token bucket without timers: tokens are refilled lazily from the clock when taken, so an idle
 * bucket costs nothing.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;

  constructor(
    /** Tokens added per second. */
    readonly rate: number,
    /** Most tokens held at once (the burst). */
    readonly capacity: number,
    readonly now: () => number = monotonicNow,
  ) {
    if (!(rate > 0) || !(capacity >= 1)) throw new RangeError('a token bucket needs rate > 0 and capacity >= 1');
    this.#tokens = capacity;
    this.#last = now();
  }

  /** Takes one token; false when the bucket is empty. */
  take(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** The tokens held now (fractional), taking none. */
  peek(): number {
    this.#refill();
    return this.#tokens;
  }

  #refill(): void {
    const now = this.now();
    this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#last) / 1000) * this.rate);
    this.#last = now;
  }
}

/** The default clock, one function for every bucket (a bound function per bucket cost memory per connection). */
function monotonicNow(): number {
  return performance.now();
}
