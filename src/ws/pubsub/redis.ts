import type { Redis } from 'ioredis';
import type { Logger } from '../../log.ts';
import { closeRedis, connectRedis, whenReady } from '../redis-connection.ts';
import type { PayloadHandler, PubSub, PubSubState } from './types.ts';

export interface RedisPubSubOptions {
  /** `redis://` or `rediss://` URL. */
  url: string;
  logger: Logger;
  /** Prefix of the two connection names shown by `CLIENT LIST` (`<name>:pub`, `<name>:sub`). Default `hns`. */
  connectionName?: string;
}

/**
 * Pub/sub over Redis: a publisher connection and a separate subscriber connection (a subscribed
 * connection can run nothing else). Payloads stay bytes end to end (`messageBuffer`). One plain
 * SUBSCRIBE per channel, no patterns, so Redis sends this process only what it asked for.
 *
 * Commands fail fast while a connection is down. Redis forgets subscriptions with the connection,
 * so after `onStateChange('ok')` the caller subscribes again (it knows what it still wants).
 */
export class RedisPubSub implements PubSub {
  readonly kind = 'redis';
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #handlers = new Map<string, PayloadHandler>();
  readonly #listeners: Array<(state: PubSubState) => void> = [];
  readonly #log: Logger;
  #state: PubSubState = 'degraded';
  #closed = false;

  constructor(options: RedisPubSubOptions) {
    const name = options.connectionName ?? 'hns';
    this.#log = options.logger;
    this.#pub = connectRedis(options.url, `${name}:pub`, this.#log);
    this.#sub = connectRedis(options.url, `${name}:sub`, this.#log);
    for (const conn of [this.#pub, this.#sub]) {
      conn.on('ready', () => this.#update());
      conn.on('close', () => this.#update());
    }
    this.#sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const handler = this.#handlers.get(channel.toString());
      if (!handler) return;
      try {
        handler(message);
      } catch (err) {
        this.#log.error({ err }, 'pubsub handler threw');
      }
    });
  }

  /** Resolves once both connections are up for the first time (start-up, tests). */
  ready(): Promise<void> {
    return Promise.all([whenReady(this.#pub), whenReady(this.#sub)]).then(() => {});
  }

  async subscribe(channel: string, handler: PayloadHandler): Promise<void> {
    if (this.#closed) throw new Error('pubsub is closed');
    this.#handlers.set(channel, handler);
    try {
      await this.#sub.subscribe(channel);
    } catch (err) {
      // Roll back, so that what this object routes matches what Redis sends.
      if (this.#handlers.get(channel) === handler) this.#handlers.delete(channel);
      throw err;
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    // Dropped at once (not after the reply): a SUBSCRIBE issued right after goes out after this
    // UNSUBSCRIBE on the same connection, and Redis applies them in that order.
    this.#handlers.delete(channel);
    // A connection that is down has no subscriptions left to drop.
    if (this.#sub.status === 'ready') await this.#sub.unsubscribe(channel);
  }

  async publish(channel: string, payload: Buffer): Promise<void> {
    if (this.#closed) throw new Error('pubsub is closed');
    await this.#pub.publish(channel, payload);
  }

  state(): PubSubState {
    return this.#state;
  }

  onStateChange(listener: (state: PubSubState) => void): void {
    this.#listeners.push(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handlers.clear();
    await Promise.all([closeRedis(this.#pub), closeRedis(this.#sub)]);
  }

  #update(): void {
    const next: PubSubState = this.#pub.status === 'ready' && this.#sub.status === 'ready' ? 'ok' : 'degraded';
    if (next === this.#state || this.#closed) return;
    this.#state = next;
    if (next === 'degraded') this.#log.warn('redis pub/sub degraded: serving local clients only until it is back');
    else this.#log.info('redis pub/sub connected');
    for (const listener of this.#listeners) listener(next);
  }
}
