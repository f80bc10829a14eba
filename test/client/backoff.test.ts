import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_BACKOFF } from '../../src/client/index.ts';

describe('backoffDelay', () => {
  it('stays within [0, min(max, base * 2^attempt))', () => {
    const opts = { baseMs: 100, maxMs: 5000 };
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(5000, 100 * 2 ** attempt);
      expect(backoffDelay(attempt, opts, () => 0)).toBe(0);
      expect(backoffDelay(attempt, opts, () => 0.999999)).toBe(Math.floor(0.999999 * ceiling));
      const d = backoffDelay(attempt, opts);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(ceiling);
    }
  });

  it('never exceeds the cap, even for huge attempt numbers', () => {
    expect(backoffDelay(1e9, {}, () => 0.999999)).toBeLessThan(DEFAULT_BACKOFF.maxMs);
    expect(Number.isFinite(backoffDelay(5000, {}, () => 0.5))).toBe(true);
  });

  it('spreads delays (full jitter, not a fixed schedule)', () => {
    const seen = new Set(Array.from({ length: 50 }, () => backoffDelay(6, { baseMs: 500, maxMs: 20_000 })));
    expect(seen.size).toBeGreaterThan(10);
  });
});
