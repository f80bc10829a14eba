/** Counts per key, dropping a key at zero so a million distinct IPs leave nothing behind. */
export class Counter {
  readonly #counts = new Map<string, number>();

  get(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  add(key: string, delta: 1 | -1): void {
    const next = this.get(key) + delta;
    if (next <= 0) this.#counts.delete(key);
    else this.#counts.set(key, next);
  }
}
