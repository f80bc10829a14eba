/**
 * Token buckets per key (a client IP, a username), in bounded memory: a bucket that has refilled
 * is the same as none and is dropped, and past `maxKeys` the oldest bucket goes, so a million
 * distinct keys leave nothing behind.
 */
import { TokenBucket } from './token-bucket.ts';

export class KeyedBuckets {
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #rate: number;
  readonly #capacity: number;
  readonly #maxKeys: number;
  #sweepAt = 0;

  constructor(
    /** Tokens added per second to each key's bucket. */
    rate: number,
    /** Most tokens a key holds (its burst). */
    capacity: number,
    /** Keys remembered at most; past it the oldest is forgotten. */
    maxKeys = 100_000,
  ) {
    if (!(rate > 0) || !(capacity >= 1)) throw new RangeError('keyed buckets need rate > 0 and capacity >= 1');
    this.#rate = rate;
    this.#capacity = capacity;
    this.#maxKeys = maxKeys;
  }

  /** Takes one token of `key`'s bucket; false when it is empty. */
  take(key: string): boolean {
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size >= this.#maxKeys) this.#evict();
      bucket = new TokenBucket(this.#rate, this.#capacity);
      this.#buckets.set(key, bucket);
    }
    return bucket.take();
  }

  /** Seconds until `key` has a token again (0 when it has one). */
  retryAfterSeconds(key: string): number {
    const missing = 1 - (this.#buckets.get(key)?.peek() ?? this.#capacity);
    return missing <= 0 ? 0 : Math.ceil(missing / this.#rate);
  }

  /** Number of keys remembered. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Drops every full bucket (at most once a second); if none was, the oldest one. */
  #evict(): void {
    const now = performance.now();
    if (now >= this.#sweepAt) {
      this.#sweepAt = now + 1000;
      for (const [key, bucket] of this.#buckets) if (bucket.peek() >= this.#capacity) this.#buckets.delete(key);
    }
    if (this.#buckets.size >= this.#maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
  }
}
