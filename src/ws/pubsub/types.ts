/**
 * The pub/sub seam between instances. A broker deals only in channels and bytes, never in
 * connections or namespaces: the registry is the source of truth for what this instance hosts.
 */

/** Receives one published payload, exactly as it was published. */
export type PayloadHandler = (payload: Buffer) => void;

/** Health of the broker connection, as shown by `/health` and the stats. */
export type PubSubState = 'ok' | 'degraded';

export interface PubSub {
  /** `memory` or `redis`. */
  readonly kind: string;
  /** Subscribes this instance to a channel; one handler per channel. Resolves once subscribed. */
  subscribe(channel: string, handler: PayloadHandler): Promise<void>;
  /** Drops the subscription at once (payloads still in flight are not handed over); a no-op when not subscribed. */
  unsubscribe(channel: string): Promise<void>;
  /** Publishes to every instance subscribed to the channel, this one included. */
  publish(channel: string, payload: Buffer): Promise<void>;
  /** Current broker health. */
  state(): PubSubState;
  /**
   * Calls `listener` on every change of `state()`. After a change back to `ok` the broker may have
   * lost its subscriptions (Redis forgets them with the connection): the caller subscribes again.
   */
  onStateChange(listener: (state: PubSubState) => void): void;
  /** Closes connections; further calls fail. */
  close(): Promise<void>;
}
