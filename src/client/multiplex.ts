/**
 * Many namespaces over one socket: a `MultiplexClient` keeps one socket to the multiplexed
 * endpoint (`/api/1/ws`) up, and each `subscribe(path)` is a `Subscription` with the API of a
 * direct connection. One backoff for all: after a blip the socket reconnects once and every
 * subscription subscribes again and catches up (sync or resync) on its own.
 *
 * Each path has one owner on the wire at a time. A subscription's life there: `idle` (nothing
 * asked), `subscribing` (subscribe sent), `live` (its welcome came), `leaving` (unsubscribe sent,
 * waiting for `unsubscribed`). A new subscription to a path that is still leaving waits for that
 * end, so the frames of the old membership never reach the new one.
 */
import type { MultiplexWelcome, Unsubscribed } from '../protocol/index.ts';
import { isPermanentClose } from '../protocol/index.ts';
import { namespacePath } from '../protocol/paths.ts';
import type { ContractOf, UntypedContract } from '../protocol/contract.ts';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff.ts';
import { callHandler, subscribe, type ChannelOptions } from './channel.ts';
import { positive, ReconnectingSocket, type SocketOptions } from './reconnecting-socket.ts';
import { Subscription, type Carrier, type SubscribeOptions, type SubscriptionHooks } from './subscription.ts';
import type { ClientOptions, Frame, Status, StatusDetail } from './types.ts';

export type { SubscribeOptions, Subscription };

/** Options of `connectMany()`: a direct connection's, but `resync`, which is each subscription's. */
export type MultiplexOptions = Omit<ClientOptions, 'resync'>;

type Wire = 'idle' | 'subscribing' | 'live' | 'leaving';

/** The connection's record of one subscription. */
class Slot {
  wire: Wire = 'idle';
  /** False once the app unsubscribed or the server refused it for good. */
  wanted = true;
  attempt = 0;
  retryTimer: ReturnType<typeof setTimeout> | undefined;
  hooks!: SubscriptionHooks;
  constructor(readonly path: string) {}
}

/** One multiplexed socket carrying many subscriptions; see `connectMany()`. */
export class MultiplexClient {
  readonly #socket: ReconnectingSocket;
  readonly #requestTimeoutMs: number;
  readonly #backoff: { baseMs: number; maxMs: number };
  readonly #random: () => number;
  readonly #onError: (error: unknown) => void;
  #welcome: MultiplexWelcome | null = null;
  #lostMessage = 'connection closed';
  /** The subscription each path's frames belong to. */
  readonly #slots = new Map<string, Slot>();
  /** A newer subscription to a path whose previous one is still leaving. */
  readonly #waiting = new Map<string, Slot>();
  readonly #onStatus = new Set<(status: Status, oldStatus: Status, detail: StatusDetail) => void>();

  constructor(path: string, options: MultiplexOptions = {}) {
    this.#onError = options.onError ?? ((error: unknown) => console.error('[realtime client]', error));
    this.#requestTimeoutMs = positive('requestTimeoutMs', options.requestTimeoutMs, 10_000);
    this.#random = options.random ?? Math.random;
    const socketOptions: SocketOptions = { ...options, onError: this.#onError };
    this.#socket = new ReconnectingSocket(path, socketOptions, {
      frame: (frame) => this.#frame(frame),
      lost: (message) => this.#lost(message),
      status: (status, old, detail) => this.#status(status, old, detail),
    });
    this.#backoff = {
      baseMs: options.minReconnectDelayMs ?? DEFAULT_BACKOFF.baseMs,
      maxMs: options.maxReconnectDelayMs ?? DEFAULT_BACKOFF.maxMs,
    };
    this.#socket.start();
  }

  /** The socket's status (each subscription has its own). */
  get status(): Status {
    return this.#socket.status;
  }

  /** The `ws:`/`wss:` URL of the multiplexed endpoint. */
  get url(): string {
    return this.#socket.url;
  }

  /** The socket's last `welcome` (`ctx`, `maxSubscriptions`); null before the first. */
  get welcome(): MultiplexWelcome | null {
    return this.#welcome;
  }

  /**
   * Subscribes the socket to the namespace at `path` (e.g. `/api/1/ws/hello-rooms/Berlin`): the
   * server runs that path's route (session, `access`, params, `onCreate`) as for a direct
   * connect. `T` types it as in `connect<T>()`. Throws for a path that is not a plain absolute
   * path, one this connection already subscribes to, or after `close()`.
   * @example
   * const mux = connectMany('/api/1/ws');
   * const berlin = mux.subscribe<typeof roomNs>('/api/1/ws/hello-rooms/Berlin');
   * berlin.on('chat', (msg) => show(msg));
   */
  subscribe<T = UntypedContract>(given: string, options: SubscribeOptions = {}): Subscription<ContractOf<T>> {
    const path = checkPath(given);
    if (this.status === 'disconnected' || this.status === 'rejected') throw new Error(`the connection is ${this.status}: open another one`);
    const current = this.#slots.get(path);
    if (current?.wanted || this.#waiting.has(path)) {
      throw new Error(`already subscribed to ${path}: use that subscription, or unsubscribe it first`);
    }
    const slot = new Slot(path);
    const channel: ChannelOptions = {
      requestTimeoutMs: positive('requestTimeoutMs', options.requestTimeoutMs, this.#requestTimeoutMs),
      resync: options.resync,
      onError: this.#onError,
    };
    const sub = new Subscription<ContractOf<T>>(path, channel, this.#carrier(slot), (hooks) => (slot.hooks = hooks));
    if (current) this.#waiting.set(path, slot);
    else this.#slots.set(path, slot);
    this.#pump(slot);
    return sub;
  }

  /** Calls `handler(status, oldStatus, detail)` on every change of the socket's status. Returns an unsubscribe function. */
  onStatusChange(handler: (status: Status, oldStatus: Status, detail: StatusDetail) => void): () => void {
    return subscribe(this.#onStatus, handler);
  }

  /** Closes the socket for good; every subscription ends `disconnected`. Idempotent. */
  close(): void {
    this.#socket.close();
  }

  #carrier(slot: Slot): Carrier {
    return {
      transmit: (frame) => slot.wire === 'live' && slot.wanted && this.#socket.send({ ...frame, path: slot.path }),
      restart: (reason) => {
        if (slot.wire !== 'live' || !slot.wanted) return;
        this.#leave(slot);
        slot.hooks.down(`resubscribing (${reason})`, { reason });
      },
      unsubscribe: () => this.#unsubscribe(slot),
    };
  }

  #frame(frame: Frame): void {
    if (frame.path === undefined) {
      this.#own(frame);
      return;
    }
    const slot = this.#slots.get(frame.path);
    // A frame of a subscription that ended here already (the server had not yet heard).
    if (!slot) return;
    if (frame.type === 'welcome') this.#welcomed(slot, frame);
    else if (frame.type === 'unsubscribed') this.#ended(slot, (frame.data ?? {}) as Partial<Unsubscribed>);
    else if (slot.wire === 'live' && slot.wanted) slot.hooks.receive(frame);
  }

  /** The socket's own frames (no path): its welcome, and errors about frames the server could not place. */
  #own(frame: Frame): void {
    if (frame.type === 'welcome') {
      this.#welcome = frame.data as MultiplexWelcome;
      this.#socket.ready();
      return;
    }
    const data = (frame.data ?? {}) as { code?: unknown; error?: unknown };
    this.#onError(new Error(`the multiplexed socket ${this.url} got ${frame.type}${data.code ? ` ${String(data.code)}` : ''}${data.error ? `: ${String(data.error)}` : ''}`));
  }

  #welcomed(slot: Slot, frame: Frame): void {
    // A welcome that crossed our unsubscribe (`leaving`) is the old membership's: its end follows.
    if (slot.wire !== 'subscribing') return;
    slot.wire = 'live';
    slot.attempt = 0;
    slot.hooks.receive(frame);
  }

  #ended(slot: Slot, data: Partial<Unsubscribed>): void {
    const asked = slot.wire === 'leaving';
    slot.wire = 'idle';
    if (!slot.wanted) {
      this.#release(slot);
      return;
    }
    if (asked) {
      // A restart: subscribe again, and catch up from the new welcome.
      this.#pump(slot);
      return;
    }
    const code = typeof data.code === 'number' ? data.code : 1011;
    const reason = typeof data.reason === 'string' ? data.reason : '';
    const message = `subscription ended (${code}${reason ? ` ${reason}` : ''})`;
    if (isPermanentClose(code)) {
      slot.wanted = false;
      this.#release(slot);
      slot.hooks.end('rejected', message, { code, reason });
      return;
    }
    // Retryable (1013: the server is busy or draining): after the server's Retry-After, spread by jitter.
    const wait = typeof data.retryAfter === 'number' && data.retryAfter > 0 ? data.retryAfter * 1000 : 0;
    const delayMs = wait + backoffDelay(slot.attempt++, this.#backoff, this.#random);
    slot.hooks.down(message, { code, reason, delayMs });
    slot.retryTimer = setTimeout(() => {
      slot.retryTimer = undefined;
      this.#pump(slot);
    }, delayMs);
  }

  #unsubscribe(slot: Slot): void {
    if (!slot.wanted) return;
    slot.wanted = false;
    clearTimeout(slot.retryTimer);
    slot.retryTimer = undefined;
    if (this.#waiting.get(slot.path) === slot) this.#waiting.delete(slot.path);
    // A pending subscribe is cancelled as well: the server answers one `unsubscribed` either way.
    else if (slot.wire === 'live' || slot.wire === 'subscribing') this.#leave(slot);
    else if (slot.wire === 'idle') this.#release(slot);
    slot.hooks.end('disconnected', 'unsubscribed', {});
  }

  /** Asks the server to end a live subscription; `unsubscribed` will say it did. */
  #leave(slot: Slot): void {
    slot.wire = 'leaving';
    this.#socket.send({ type: 'unsubscribe', data: { path: slot.path } });
  }

  /** Sends the subscribe of a subscription that wants one, when the socket can take it. */
  #pump(slot: Slot): void {
    if (!slot.wanted || slot.wire !== 'idle' || slot.retryTimer !== undefined || this.#slots.get(slot.path) !== slot) return;
    if (this.#socket.send({ type: 'subscribe', data: { path: slot.path } })) slot.wire = 'subscribing';
  }

  /** The path is free: a subscription waiting for it takes it. */
  #release(slot: Slot): void {
    if (this.#slots.get(slot.path) !== slot) return;
    this.#slots.delete(slot.path);
    const next = this.#waiting.get(slot.path);
    if (!next) return;
    this.#waiting.delete(slot.path);
    this.#slots.set(slot.path, next);
    this.#pump(next);
  }

  #lost(message: string): void {
    this.#lostMessage = message;
    // The server forgot every subscription with the socket: what was leaving has left.
    for (const slot of [...this.#slots.values()]) {
      slot.wire = 'idle';
      clearTimeout(slot.retryTimer);
      slot.retryTimer = undefined;
      if (!slot.wanted) this.#release(slot);
    }
  }

  #status(status: Status, old: Status, detail: StatusDetail): void {
    const slots = [...this.#slots.values(), ...this.#waiting.values()].filter((slot) => slot.wanted);
    if (status === 'connected') {
      for (const slot of slots) this.#pump(slot);
    } else if (status === 'reconnecting') {
      for (const slot of slots) slot.hooks.down(this.#lostMessage, detail);
    } else if (status === 'disconnected' || status === 'rejected') {
      this.#slots.clear();
      this.#waiting.clear();
      for (const slot of slots) {
        slot.wanted = false;
        slot.hooks.end(status, status === 'disconnected' ? 'client disconnected' : this.#lostMessage, detail);
      }
    }
    for (const handler of this.#onStatus) callHandler(this.#onError, handler, status, old, detail);
  }
}

/**
 * Opens one socket to the multiplexed endpoint at `path` (usually `/api/1/ws`) and keeps it up
 * until `close()`; `subscribe()` adds namespaces to it.
 * @example
 * const mux = connectMany('/api/1/ws');
 * const lobby = mux.subscribe('/api/1/ws/hello-rooms');
 * const room = mux.subscribe('/api/1/ws/hello-rooms/Berlin');
 */
export function connectMany(path: string, options: MultiplexOptions = {}): MultiplexClient {
  return new MultiplexClient(path, options);
}

const MAX_PATH = 1024;

/** The server's name of a plain absolute path (no query, no fragment, no dot segments); throws for any other. */
function checkPath(path: string): string {
  if (typeof path !== 'string' || !path.startsWith('/') || path.length > MAX_PATH || /[?#]/.test(path) || path.startsWith('//')) {
    throw new TypeError(`subscribe needs a namespace path such as /api/1/ws/hello-rooms/Berlin (got ${JSON.stringify(path)})`);
  }
  // The server tags frames with its own name of the path (percent escapes decoded): subscribe
  // with that one, so an encodeURIComponent'd name works; dot segments are refused, not resolved.
  const named = namespacePath(path);
  if (named !== decodedOrSame(path)) {
    throw new TypeError(`subscribe needs a normalized path (got ${JSON.stringify(path)}, which is ${named})`);
  }
  return named;
}

function decodedOrSame(path: string): string {
  try {
    return decodeURI(path);
  } catch {
    return path;
  }
}
