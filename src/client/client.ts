/**
 * The realtime client: one namespace, one socket at a time, reconnecting by itself.
 *
 * Written once for the browser (bundled into `public/client.js`) and for Node (tests pass `ws`).
 * One `#setStatus` reports every transition; one `#dropped` path handles every close; events of a
 * socket that is no longer the current one are ignored.
 */
import { isPermanentClose } from '../protocol/index.ts';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff.ts';
import { ClientErrorCode, RequestError } from './errors.ts';
import { ReplayTracker } from './replay.ts';
import type { ClientOptions, CloseEventLike, Frame, MessageEventLike, NetworkEvents, Status, StatusDetail, WebSocketConstructor, WebSocketLike, Welcome } from './types.ts';

type Listener<A extends unknown[]> = (...args: A) => void;

interface Pending {
  resolve(data: unknown): void;
  reject(error: RequestError): void;
  timer: ReturnType<typeof setTimeout>;
}

/** One socket's connection to a namespace; see `connect()`. */
export class RealtimeClient {
  /** The `ws:`/`wss:` URL this client connects to. */
  readonly url: string;
  readonly #WebSocket: WebSocketConstructor;
  readonly #opt: Required<Omit<ClientOptions, 'baseUrl' | 'WebSocket' | 'network' | 'resync'>>;
  readonly #replay: ReplayTracker;
  readonly #network: NetworkEvents | null;
  #status: Status = 'connecting';
  #socket: WebSocketLike | null = null;
  #welcome: Welcome | null = null;
  #attempt = 0;
  #connectedAt = 0;
  #offline = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #nextId = 0;
  readonly #pending = new Map<string, Pending>();
  readonly #byType = new Map<string, Set<Listener<[unknown, Frame]>>>();
  readonly #onMessage = new Set<Listener<[Frame]>>();
  readonly #onStatus = new Set<Listener<[Status, Status, StatusDetail]>>();
  readonly #onReconnect = new Set<Listener<[Welcome]>>();
  readonly #goOnline = () => this.#online();
  readonly #goOffline = () => this.#offlineNow();

  constructor(path: string, options: ClientOptions = {}) {
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (typeof WS !== 'function') throw new TypeError('no WebSocket constructor: pass options.WebSocket (e.g. the ws package in Node)');
    this.#WebSocket = WS;
    this.url = resolveUrl(path, options.baseUrl);
    this.#opt = {
      minReconnectDelayMs: positive('minReconnectDelayMs', options.minReconnectDelayMs, DEFAULT_BACKOFF.baseMs),
      maxReconnectDelayMs: positive('maxReconnectDelayMs', options.maxReconnectDelayMs, DEFAULT_BACKOFF.maxMs),
      stableAfterMs: positive('stableAfterMs', options.stableAfterMs, 5000),
      connectTimeoutMs: positive('connectTimeoutMs', options.connectTimeoutMs, 10_000),
      requestTimeoutMs: positive('requestTimeoutMs', options.requestTimeoutMs, 10_000),
      random: options.random ?? Math.random,
      onError: options.onError ?? ((error: unknown) => console.error('[realtime client]', error)),
    };
    if (this.#opt.minReconnectDelayMs > this.#opt.maxReconnectDelayMs) {
      throw new RangeError('minReconnectDelayMs must not exceed maxReconnectDelayMs');
    }
    if (options.resync !== undefined && typeof options.resync !== 'function') throw new TypeError('resync must be a function');
    this.#replay = new ReplayTracker({
      send: (type, data) => this.send(type, data),
      deliver: (frame) => this.#dispatch(frame),
      resync: options.resync,
      onError: (error) => this.#opt.onError(error),
      reconnect: (reason) => {
        const socket = this.#socket;
        if (!socket) return;
        this.#detach(socket, 4000, reason);
        this.#dropped(1006, reason);
      },
      alive: () => this.#status !== 'disconnected' && this.#status !== 'rejected',
    });
    const win = (globalThis as { window?: NetworkEvents }).window;
    this.#network = options.network !== undefined ? options.network : (win ?? null);
    this.#network?.addEventListener('online', this.#goOnline);
    this.#network?.addEventListener('offline', this.#goOffline);
    this.#open();
  }

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
  send(type: string, data?: unknown): boolean {
    if (this.#status !== 'connected' || !this.#socket) return false;
    this.#socket.send(JSON.stringify(data === undefined ? { type } : { type, data }));
    return true;
  }

  /**
   * Sends `{ type, data, id }` and resolves with the `data` of the reply carrying that id (`ack`),
   * or rejects with a `RequestError`: the server's `error` reply, `not_connected`, `disconnected`
   * or `timeout`. Nothing is queued or resent: the caller decides whether a retry is safe.
   */
  request<T = unknown>(type: string, data?: unknown, options: { timeoutMs?: number } = {}): Promise<T> {
    const socket = this.#socket;
    if (this.#status !== 'connected' || !socket) {
      return Promise.reject(new RequestError(ClientErrorCode.NOT_CONNECTED, `not connected (status ${this.#status})`));
    }
    const id = String(++this.#nextId);
    const timeoutMs = options.timeoutMs ?? this.#opt.requestTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new RequestError(ClientErrorCode.TIMEOUT, `no reply to "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve: resolve as (d: unknown) => void, reject, timer });
      socket.send(JSON.stringify({ type, data, id }));
    });
  }

  /** Calls `handler(data, frame)` for every frame of `type`. Returns a function that unsubscribes. */
  on<T = any>(type: string, handler: (data: T, frame: Frame<T>) => void): () => void {
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

  /** Closes for good (status `disconnected`); pending requests reject. Idempotent. */
  close(): void {
    if (this.#status === 'disconnected') return;
    this.#stop('disconnected', {});
  }

  #open(): void {
    clearTimeout(this.#retryTimer);
    let socket: WebSocketLike;
    try {
      socket = new this.#WebSocket(this.url);
    } catch (err) {
      // A browser throws synchronously for e.g. a blocked port: treat it like a failed attempt.
      this.#dropped(1006, err instanceof Error ? err.message : String(err));
      return;
    }
    this.#socket = socket;
    socket.onmessage = (event: MessageEventLike) => {
      if (socket === this.#socket) this.#receive(event.data);
    };
    socket.onclose = (event: CloseEventLike) => {
      if (socket === this.#socket) this.#dropped(event.code, event.reason);
    };
    // Every error is followed by a close event, which is where it is handled.
    socket.onerror = () => {};
    this.#connectTimer = setTimeout(() => {
      if (socket !== this.#socket) return;
      this.#detach(socket, 4000, 'connect timeout');
      this.#dropped(1006, 'connect timeout');
    }, this.#opt.connectTimeoutMs);
  }

  #receive(raw: unknown): void {
    let frame: Frame;
    try {
      frame = JSON.parse(String(raw)) as Frame;
      if (typeof frame !== 'object' || frame === null || typeof frame.type !== 'string') throw new Error('no type');
    } catch {
      this.#opt.onError(new Error(`ignored a malformed frame from ${this.url}: ${String(raw).slice(0, 100)}`));
      return;
    }
    if (frame.type === 'welcome') this.#welcomed(frame.data as Welcome);
    if (frame.id !== undefined) this.#settle(frame);
    if (frame.type === 'welcome') this.#replay.welcomed((frame.data as Welcome).replay);
    else if (!this.#replay.receive(frame)) return;
    this.#dispatch(frame);
  }

  #dispatch(frame: Frame): void {
    for (const handler of this.#byType.get(frame.type) ?? []) this.#call(handler, frame.data, frame);
    for (const handler of this.#onMessage) this.#call(handler, frame);
  }

  #welcomed(welcome: Welcome): void {
    clearTimeout(this.#connectTimer);
    const reconnect = this.#welcome !== null;
    this.#welcome = welcome;
    this.#connectedAt = Date.now();
    this.#setStatus('connected', {});
    if (reconnect) for (const handler of this.#onReconnect) this.#call(handler, welcome);
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

  /** The one path every lost socket takes: reject what waits, then retry or give up. */
  #dropped(code: number, reason: string): void {
    clearTimeout(this.#connectTimer);
    this.#socket = null;
    this.#failPending(ClientErrorCode.DISCONNECTED, `connection closed (${code}${reason ? ` ${reason}` : ''})`);
    if (isPermanentClose(code)) {
      this.#stop('rejected', { code, reason });
      return;
    }
    if (this.#connectedAt && Date.now() - this.#connectedAt >= this.#opt.stableAfterMs) this.#attempt = 0;
    this.#connectedAt = 0;
    if (this.#offline) {
      this.#setStatus('reconnecting', { code, reason });
      return;
    }
    const delayMs = backoffDelay(
      this.#attempt++,
      { baseMs: this.#opt.minReconnectDelayMs, maxMs: this.#opt.maxReconnectDelayMs },
      this.#opt.random,
    );
    this.#setStatus('reconnecting', { code, reason, delayMs });
    this.#retryTimer = setTimeout(() => this.#open(), delayMs);
  }

  #offlineNow(): void {
    this.#offline = true;
    if (this.#status === 'disconnected' || this.#status === 'rejected') return;
    clearTimeout(this.#retryTimer);
    const socket = this.#socket;
    if (socket) {
      this.#detach(socket, 1000, 'offline');
      this.#dropped(1006, 'offline');
    } else {
      this.#setStatus('reconnecting', { reason: 'offline' });
    }
  }

  #online(): void {
    this.#offline = false;
    if (this.#status === 'reconnecting' && !this.#socket) this.#open();
  }

  #stop(status: 'disconnected' | 'rejected', detail: StatusDetail): void {
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#connectTimer);
    this.#network?.removeEventListener('online', this.#goOnline);
    this.#network?.removeEventListener('offline', this.#goOffline);
    const socket = this.#socket;
    this.#socket = null;
    if (socket) this.#detach(socket, 1000, 'client closed');
    this.#failPending(ClientErrorCode.DISCONNECTED, `client ${status}`);
    this.#setStatus(status, detail);
  }

  /** Closes a socket that is no longer current without waking its handlers. */
  #detach(socket: WebSocketLike, code: number, reason: string): void {
    socket.onmessage = null;
    socket.onclose = null;
    // Closing a socket that is still opening makes browsers log an error: wait for it to open.
    if (socket.readyState === 0) socket.onopen = () => socket.close(code, reason);
    else socket.close(code, reason);
  }

  #failPending(code: string, message: string): void {
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new RequestError(code, message));
    }
    this.#pending.clear();
  }

  #setStatus(status: Status, detail: StatusDetail): void {
    const old = this.#status;
    if (old === status) return;
    this.#status = status;
    for (const handler of this.#onStatus) this.#call(handler, status, old, detail);
  }

  #call<A extends unknown[]>(handler: Listener<A>, ...args: A): void {
    try {
      handler(...args);
    } catch (err) {
      this.#opt.onError(err);
    }
  }
}

/**
 * Connects to the namespace at `path` (e.g. `/api/1/ws/hello-rooms/Berlin`) and keeps the
 * connection up until `close()` or a permanent refusal.
 * @example
 * const room = connect('/api/1/ws/hello-rooms/Berlin');
 * room.on('chat', (msg) => show(msg));
 * room.onReconnect(() => refetchRoom());
 * await room.request('chat', { text: 'hello' });
 */
export function connect(path: string, options: ClientOptions = {}): RealtimeClient {
  return new RealtimeClient(path, options);
}

function subscribe<F>(set: Set<F>, handler: F): () => void {
  if (typeof handler !== 'function') throw new TypeError('handler must be a function');
  set.add(handler);
  return () => void set.delete(handler);
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number (got ${value})`);
  return value;
}

function resolveUrl(path: string, baseUrl: string | undefined): string {
  if (typeof path !== 'string' || path === '') throw new TypeError('path must be a non-empty string');
  const base = baseUrl ?? (globalThis as { location?: { href: string } }).location?.href;
  if (!base && !/^[a-z][a-z0-9+.-]*:/i.test(path)) throw new TypeError('a relative path needs options.baseUrl outside a browser');
  const url = new URL(path, base);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new TypeError(`unsupported URL scheme ${url.protocol}`);
  url.hash = '';
  return url.href;
}
