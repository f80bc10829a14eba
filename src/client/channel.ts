/**
 * The namespace side of a client, the same for a direct connection (`RealtimeClient`) and for
 * one subscription of a multiplexed socket (`Subscription`): status and its listeners, the
 * `welcome`, handlers by type, requests waiting for their `ack`, and replay tracking. How a frame
 * reaches the server, and how to start over, is the subclass's.
 */
import type { ClientFrame } from '../protocol/index.ts';
import type {
  AckData,
  BroadcastData,
  BroadcastType,
  DeclaresBroadcasts,
  DeclaresMessages,
  MessageArgs,
  MessageData,
  MessageType,
  NamespaceContract,
  UntypedContract,
} from '../protocol/contract.ts';
import { ClientErrorCode, RequestError } from './errors.ts';
import { ReplayTracker } from './replay.ts';
import type { Frame, ResyncResult, Status, StatusDetail, Welcome } from './types.ts';

type Listener<A extends unknown[]> = (...args: A) => void;

interface Pending {
  resolve(data: unknown): void;
  reject(error: RequestError): void;
  timer: ReturnType<typeof setTimeout>;
}

/** Options of `request()`. */
export interface RequestOptions {
  /** Reject with `timeout` after this many ms without a reply. Default: the client's `requestTimeoutMs`. */
  timeoutMs?: number;
}

/** The arguments after `type` of `request(type, ...)` for message `K`. */
export type RequestArgs<C extends NamespaceContract, K extends string> = undefined extends MessageData<C, K>
  ? [data?: MessageData<C, K>, options?: RequestOptions]
  : [data: MessageData<C, K>, options?: RequestOptions];

/** What a channel needs from whoever builds it. */
export interface ChannelOptions {
  requestTimeoutMs: number;
  resync: (() => Promise<ResyncResult>) | undefined;
  onError: (error: unknown) => void;
}

/**
 * The API a namespace connection has, typed by the namespace's contract `C` (see
 * `ContractOf`): `send`/`request` take the declared messages, `on` knows each broadcast's data.
 */
export abstract class NamespaceChannel<C extends NamespaceContract = UntypedContract> {
  readonly #replay: ReplayTracker;
  readonly #requestTimeoutMs: number;
  /** Where handlers' throws and malformed frames are reported. */
  protected readonly onError: (error: unknown) => void;
  #status: Status = 'connecting';
  #welcome: Welcome | null = null;
  #nextId = 0;
  readonly #pending = new Map<string, Pending>();
  readonly #byType = new Map<string, Set<Listener<[unknown, Frame]>>>();
  readonly #onMessage = new Set<Listener<[Frame]>>();
  readonly #onStatus = new Set<Listener<[Status, Status, StatusDetail]>>();
  readonly #onReconnect = new Set<Listener<[Welcome]>>();

  protected constructor(options: ChannelOptions) {
    if (options.resync !== undefined && typeof options.resync !== 'function') throw new TypeError('resync must be a function');
    this.#requestTimeoutMs = options.requestTimeoutMs;
    this.onError = options.onError;
    this.#replay = new ReplayTracker({
      send: (type, data) => this.#transmitIfLive({ type, data }),
      deliver: (frame) => this.#dispatch(frame),
      resync: options.resync,
      onError: (error) => this.onError(error),
      reconnect: (reason) => this.restart(reason),
      alive: () => this.#status !== 'disconnected' && this.#status !== 'rejected',
    });
  }

  /** Hands a frame to the server (tagged with its subscription, on a multiplexed socket); false when it cannot go now. */
  protected abstract transmit(frame: ClientFrame): boolean;

  /** Starts over from a new `welcome` (replay's resync failed). */
  protected abstract restart(reason: string): void;

  /** A `welcome` came: the channel is `connected` (and the socket's connect timer stops, on a direct socket). */
  protected abstract opened(): void;

  /** The current status. */
  get status(): Status {
    return this.#status;
  }

  /** In a replay namespace: the last seq (and its epoch) the app has received or resynced to. */
  get position(): { seq: number | null; epoch: string | null } {
    return this.#replay.position;
  }

  /** The last `welcome` (this connection's `clientId` and `ctx`); null before the first one. */
  get welcome(): Welcome | null {
    return this.#welcome;
  }

  /** Sends `{ type, data }` if connected; returns false (nothing sent) otherwise. */
  send<K extends MessageType<C>>(type: K, ...data: MessageArgs<C, K>): boolean;
  send(type: string, data?: unknown): boolean {
    return this.#transmitIfLive(data === undefined ? { type } : { type, data });
  }

  /**
   * Sends `{ type, data, id }` and resolves with the `data` of the reply carrying that id (`ack`),
   * or rejects with a `RequestError`: the server's `error` reply, `not_connected`, `disconnected`
   * or `timeout`. Nothing is queued or resent: the caller decides whether a retry is safe.
   */
  request<K extends MessageType<C>>(type: K, ...args: RequestArgs<C, K>): Promise<AckData<C>>;
  /** Untyped namespaces: the ack's type as you expect it. */
  request<T = unknown>(type: DeclaresMessages<C> extends true ? never : string, data?: unknown, options?: RequestOptions): Promise<T>;
  request(type: string, data?: unknown, options: RequestOptions = {}): Promise<unknown> {
    if (this.#status !== 'connected') {
      return Promise.reject(new RequestError(ClientErrorCode.NOT_CONNECTED, `not connected (status ${this.#status})`));
    }
    const id = String(++this.#nextId);
    const timeoutMs = options.timeoutMs ?? this.#requestTimeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new RequestError(ClientErrorCode.TIMEOUT, `no reply to "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      if (this.transmit({ type, data, id })) return;
      clearTimeout(timer);
      this.#pending.delete(id);
      reject(new RequestError(ClientErrorCode.NOT_CONNECTED, `not connected (status ${this.#status})`));
    });
  }

  /** Calls `handler(data, frame)` for every frame of `type`. Returns a function that unsubscribes. */
  on<K extends BroadcastType<C>>(type: K, handler: (data: BroadcastData<C, K>, frame: Frame<BroadcastData<C, K>>) => void): () => void;
  /** Untyped namespaces: the data's type as you expect it. */
  on<T = any>(type: DeclaresBroadcasts<C> extends true ? never : string, handler: (data: T, frame: Frame<T>) => void): () => void;
  on(type: string, handler: (data: any, frame: Frame<any>) => void): () => void {
    let set = this.#byType.get(type);
    if (!set) this.#byType.set(type, (set = new Set()));
    return subscribe(set, handler as Listener<[unknown, Frame]>);
  }

  /** Calls `handler(frame)` for every frame. Returns a function that unsubscribes. */
  onMessage(handler: (frame: Frame) => void): () => void {
    return subscribe(this.#onMessage, handler);
  }

  /** Calls `handler(status, oldStatus, detail)` on every change of status. Returns an unsubscribe function. */
  onStatusChange(handler: (status: Status, oldStatus: Status, detail: StatusDetail) => void): () => void {
    return subscribe(this.#onStatus, handler);
  }

  /**
   * Calls `handler(welcome)` after every reconnect (each `welcome` but the first). To catch up
   * on what was missed, prefer the `resync` option: the client calls it when replay cannot help.
   */
  onReconnect(handler: (welcome: Welcome) => void): () => void {
    return subscribe(this.#onReconnect, handler);
  }

  /** A frame of this namespace from the server. */
  protected receive(frame: Frame): void {
    if (frame.type === 'welcome') this.#welcomed(frame.data as Welcome);
    if (frame.id !== undefined) this.#settle(frame);
    if (frame.type === 'welcome') this.#replay.welcomed((frame.data as Welcome).replay);
    else if (!this.#replay.receive(frame)) return;
    this.#dispatch(frame);
  }

  /** The way to the server is gone: requests waiting for a reply reject with `disconnected`. */
  protected failPending(message: string): void {
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new RequestError(ClientErrorCode.DISCONNECTED, message));
    }
    this.#pending.clear();
  }

  protected setStatus(status: Status, detail: StatusDetail): void {
    const old = this.#status;
    if (old === status) return;
    this.#status = status;
    for (const handler of this.#onStatus) this.call(handler, status, old, detail);
  }

  /** Runs a handler of the app's; what it throws goes to `onError`. */
  protected call<A extends unknown[]>(handler: Listener<A>, ...args: A): void {
    callHandler(this.onError, handler, ...args);
  }

  #transmitIfLive(frame: ClientFrame): boolean {
    return this.#status === 'connected' && this.transmit(frame);
  }

  #welcomed(welcome: Welcome): void {
    const reconnect = this.#welcome !== null;
    this.#welcome = welcome;
    this.opened();
    if (reconnect) for (const handler of this.#onReconnect) this.call(handler, welcome);
  }

  #settle(frame: Frame): void {
    const pending = this.#pending.get(frame.id!);
    if (!pending) return;
    this.#pending.delete(frame.id!);
    clearTimeout(pending.timer);
    if (frame.type === 'error') {
      const data = (frame.data ?? {}) as { code?: unknown; error?: unknown };
      pending.reject(new RequestError(String(data.code ?? 'error'), String(data.error ?? 'error'), true));
    } else {
      pending.resolve(frame.data);
    }
  }

  #dispatch(frame: Frame): void {
    for (const handler of this.#byType.get(frame.type) ?? []) this.call(handler, frame.data, frame);
    for (const handler of this.#onMessage) this.call(handler, frame);
  }
}

/** Runs a handler of the app's; what it throws goes to `onError`, never to the caller. */
export function callHandler<A extends unknown[]>(onError: (error: unknown) => void, handler: Listener<A>, ...args: A): void {
  try {
    handler(...args);
  } catch (err) {
    onError(err);
  }
}

/** Adds a handler to a set; returns the function that removes it. */
export function subscribe<F>(set: Set<F>, handler: F): () => void {
  if (typeof handler !== 'function') throw new TypeError('handler must be a function');
  set.add(handler);
  return () => void set.delete(handler);
}
