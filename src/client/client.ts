/**
 * The realtime client: one namespace, one socket at a time, reconnecting by itself.
 *
 * Written once for the browser (bundled into `public/client.js`) and for Node (tests pass `ws`).
 * The socket's life (backoff, timeouts, offline) is `ReconnectingSocket`'s; the namespace's
 * (handlers, requests, replay) is `NamespaceChannel`'s.
 */
import type { ClientFrame, ContractOf, NamespaceContract, UntypedContract } from '../protocol/index.ts';
import { NamespaceChannel } from './channel.ts';
import { positive, ReconnectingSocket } from './reconnecting-socket.ts';
import type { ClientOptions } from './types.ts';

/** One socket's connection to a namespace; see `connect()`. */
export class RealtimeClient<C extends NamespaceContract = UntypedContract> extends NamespaceChannel<C> {
  readonly #socket: ReconnectingSocket;

  constructor(path: string, options: ClientOptions = {}) {
    const onError = options.onError ?? ((error: unknown) => console.error('[realtime client]', error));
    const requestTimeoutMs = positive('requestTimeoutMs', options.requestTimeoutMs, 10_000);
    super({ requestTimeoutMs, resync: options.resync, onError });
    this.#socket = new ReconnectingSocket(path, { ...options, onError }, {
      frame: (frame) => this.receive(frame),
      lost: (message) => this.failPending(message),
      status: (status, _old, detail) => this.setStatus(status, detail),
    });
    this.#socket.start();
  }

  /** The `ws:`/`wss:` URL this client connects to. */
  get url(): string {
    return this.#socket.url;
  }

  /** Closes for good (status `disconnected`); pending requests reject. Idempotent. */
  close(): void {
    this.#socket.close();
  }

  protected transmit(frame: ClientFrame): boolean {
    return this.#socket.send(frame);
  }

  protected restart(reason: string): void {
    this.#socket.restart(reason);
  }

  protected opened(): void {
    this.#socket.ready();
  }
}

/**
 * Connects to the namespace at `path` (e.g. `/api/1/ws/hello-rooms/Berlin`) and keeps the
 * connection up until `close()` or a permanent refusal. `T` types it: the namespace handler's
 * type (`typeof roomNs`), a function returning one, or a `NamespaceContract`.
 * @example
 * const room = connect('/api/1/ws/hello-rooms/Berlin');
 * room.on('chat', (msg) => show(msg));
 * room.onReconnect(() => refetchRoom());
 * await room.request('chat', { text: 'hello' });
 */
export function connect<T = UntypedContract>(path: string, options: ClientOptions = {}): RealtimeClient<ContractOf<T>> {
  return new RealtimeClient<ContractOf<T>>(path, options);
}
