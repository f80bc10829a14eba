/**
 * One namespace on a multiplexed socket, as the app holds it: a `NamespaceChannel` whose frames
 * travel tagged with its path on the `MultiplexClient`'s socket. The connection drives it through
 * the hooks it is given at construction; the app sees only the channel's API and `unsubscribe()`.
 */
import type { ClientFrame } from '../protocol/index.ts';
import type { NamespaceContract, UntypedContract } from '../protocol/contract.ts';
import { NamespaceChannel, type ChannelOptions } from './channel.ts';
import type { Frame, ResyncResult, StatusDetail } from './types.ts';

/** Options of `subscribe()`. */
export interface SubscribeOptions {
  /** As `ClientOptions.resync`, for this namespace: loads its state, resolves with its seq. */
  resync?: () => Promise<ResyncResult>;
  /** Default timeout of this subscription's `request()` in ms. Default: the connection's `requestTimeoutMs`. */
  requestTimeoutMs?: number;
}

/** What a subscription does for the connection that carries it. */
export interface SubscriptionHooks {
  receive(frame: Frame): void;
  /** The way is down for now (socket lost, a retryable refusal): requests fail, status `reconnecting`. */
  down(message: string, detail: StatusDetail): void;
  /** The end: requests fail, the status is final. */
  end(status: 'disconnected' | 'rejected', message: string, detail: StatusDetail): void;
}

/** What the connection does for a subscription. */
export interface Carrier {
  transmit(frame: ClientFrame): boolean;
  restart(reason: string): void;
  unsubscribe(): void;
}

/**
 * One namespace on a multiplexed socket (`mux.subscribe(path)`): the API of a direct connection
 * (`on`, `send`, `request`, `status`, `onReconnect`, replay, `resync`), plus `unsubscribe()`.
 * Its status is its own: `connecting` until its first welcome, `reconnecting` while the socket
 * is down or after a retryable refusal, `rejected` after a permanent one (4400-4499: the socket
 * and the other subscriptions carry on), `disconnected` after `unsubscribe()`.
 */
export class Subscription<C extends NamespaceContract = UntypedContract> extends NamespaceChannel<C> {
  /** The namespace path, e.g. `/api/1/ws/hello-rooms/Berlin`. */
  readonly path: string;
  readonly #carrier: Carrier;

  /** Made by `MultiplexClient.subscribe()`. */
  constructor(path: string, options: ChannelOptions, carrier: Carrier, bind: (hooks: SubscriptionHooks) => void) {
    super(options);
    this.path = path;
    this.#carrier = carrier;
    bind({
      receive: (frame) => this.receive(frame),
      down: (message, detail) => {
        this.failPending(message);
        this.setStatus('reconnecting', detail);
      },
      end: (status, message, detail) => {
        this.failPending(message);
        this.setStatus(status, detail);
      },
    });
  }

  /** Leaves the namespace (its `onDisconnect` runs on the server); status `disconnected`. Idempotent. */
  unsubscribe(): void {
    this.#carrier.unsubscribe();
  }

  protected transmit(frame: ClientFrame): boolean {
    return this.#carrier.transmit(frame);
  }

  protected restart(reason: string): void {
    this.#carrier.restart(reason);
  }

  protected opened(): void {
    this.setStatus('connected', {});
  }
}
