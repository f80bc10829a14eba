import type { PayloadHandler, PubSub, PubSubState } from './types.ts';

/**
 * An in-process bus. One bus stands for the broker; every app instance gets its own
 * `MemoryPubSub` on it, so several servers in one test process behave like several nodes.
 */
export class MemoryBus {
  readonly #subscribers = new Map<string, Set<MemoryPubSub>>();

  /** @internal */
  add(channel: string, member: MemoryPubSub): void {
    let set = this.#subscribers.get(channel);
    if (!set) this.#subscribers.set(channel, (set = new Set()));
    set.add(member);
  }

  /** @internal */
  remove(channel: string, member: MemoryPubSub): void {
    const set = this.#subscribers.get(channel);
    if (!set) return;
    set.delete(member);
    if (set.size === 0) this.#subscribers.delete(channel);
  }

  /** Channels with at least one subscriber (the memory twin of `PUBSUB CHANNELS`). */
  channels(): string[] {
    return [...this.#subscribers.keys()];
  }

  /** @internal */
  publish(channel: string, payload: Buffer): void {
    const set = this.#subscribers.get(channel);
    if (!set) return;
    for (const member of set) member.deliver(channel, payload);
  }
}

/** Pub/sub over a `MemoryBus`: delivery is synchronous and in publish order. */
export class MemoryPubSub implements PubSub {
  readonly kind = 'memory';
  readonly #bus: MemoryBus;
  readonly #handlers = new Map<string, PayloadHandler>();
  #closed = false;

  constructor(bus: MemoryBus = new MemoryBus()) {
    this.#bus = bus;
  }

  async subscribe(channel: string, handler: PayloadHandler): Promise<void> {
    if (this.#closed) throw new Error('pubsub is closed');
    this.#handlers.set(channel, handler);
    this.#bus.add(channel, this);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#handlers.delete(channel);
    this.#bus.remove(channel, this);
  }

  async publish(channel: string, payload: Buffer): Promise<void> {
    if (this.#closed) throw new Error('pubsub is closed');
    this.#bus.publish(channel, payload);
  }

  state(): PubSubState {
    return 'ok';
  }

  /** An in-process bus never goes away: the listener is never called. */
  onStateChange(_listener: (state: PubSubState) => void): void {}

  async close(): Promise<void> {
    this.#closed = true;
    for (const channel of this.#handlers.keys()) this.#bus.remove(channel, this);
    this.#handlers.clear();
  }

  /** @internal */
  deliver(channel: string, payload: Buffer): void {
    this.#handlers.get(channel)?.(payload);
  }
}
