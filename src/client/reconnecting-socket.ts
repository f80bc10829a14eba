/**
 * One socket at a time to one URL, reopened by itself: full-jitter backoff, a connect timeout,
 * `offline`/`online`, and a guard that ignores the events of a socket that is no longer current.
 * It knows nothing of namespaces: its owner parses nothing, it hands over frames and is told
 * when the server's `welcome` made the socket `connected`. A direct connection (`RealtimeClient`)
 * and a multiplexed one (`MultiplexClient`) each own one.
 */
import { isPermanentClose } from '../protocol/index.ts';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff.ts';
import type { ClientOptions, CloseEventLike, Frame, MessageEventLike, NetworkEvents, Status, StatusDetail, WebSocketConstructor, WebSocketLike } from './types.ts';

/** The connection options a socket loop reads (the namespace-side ones are its owner's). */
export type SocketOptions = Omit<ClientOptions, 'resync' | 'requestTimeoutMs'>;

/** What the loop tells its owner. */
export interface SocketOwner {
  /** A well-formed frame of the current socket. */
  frame(frame: Frame): void;
  /** The current socket is gone (before the status says so): what waits on it fails, with `message`. */
  lost(message: string): void;
  /** Every change of status, once. */
  status(status: Status, oldStatus: Status, detail: StatusDetail): void;
}

/** A socket kept open to `url` until `close()` or a permanent refusal. */
export class ReconnectingSocket {
  readonly url: string;
  readonly #WebSocket: WebSocketConstructor;
  readonly #owner: SocketOwner;
  readonly #opt: {
    minReconnectDelayMs: number;
    maxReconnectDelayMs: number;
    stableAfterMs: number;
    connectTimeoutMs: number;
    random: () => number;
    onError: (error: unknown) => void;
  };
  readonly #network: NetworkEvents | null;
  #status: Status = 'connecting';
  #socket: WebSocketLike | null = null;
  #attempt = 0;
  #connectedAt = 0;
  #offline = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #goOnline = () => this.#online();
  readonly #goOffline = () => this.#offlineNow();

  /** Validates the options (throwing on misuse) and opens the first socket. */
  constructor(path: string, options: SocketOptions, owner: SocketOwner) {
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (typeof WS !== 'function') throw new TypeError('no WebSocket constructor: pass options.WebSocket (e.g. the ws package in Node)');
    this.#WebSocket = WS;
    this.url = resolveUrl(path, options.baseUrl);
    this.#owner = owner;
    this.#opt = {
      minReconnectDelayMs: positive('minReconnectDelayMs', options.minReconnectDelayMs, DEFAULT_BACKOFF.baseMs),
      maxReconnectDelayMs: positive('maxReconnectDelayMs', options.maxReconnectDelayMs, DEFAULT_BACKOFF.maxMs),
      stableAfterMs: positive('stableAfterMs', options.stableAfterMs, 5000),
      connectTimeoutMs: positive('connectTimeoutMs', options.connectTimeoutMs, 10_000),
      random: options.random ?? Math.random,
      onError: options.onError ?? ((error: unknown) => console.error('[realtime client]', error)),
    };
    if (this.#opt.minReconnectDelayMs > this.#opt.maxReconnectDelayMs) {
      throw new RangeError('minReconnectDelayMs must not exceed maxReconnectDelayMs');
    }
    const win = (globalThis as { window?: NetworkEvents }).window;
    this.#network = options.network !== undefined ? options.network : (win ?? null);
  }

  /** Opens the first socket; separate from the constructor so that the owner is fully built first. */
  start(): void {
    this.#network?.addEventListener('online', this.#goOnline);
    this.#network?.addEventListener('offline', this.#goOffline);
    this.#open();
  }

  get status(): Status {
    return this.#status;
  }

  /** Where the owner's handlers' throws and malformed frames go. */
  get onError(): (error: unknown) => void {
    return this.#opt.onError;
  }

  /** Sends a frame if the server has welcomed this socket; returns false (nothing sent) otherwise. */
  send(frame: object): boolean {
    if (this.#status !== 'connected' || !this.#socket) return false;
    this.#socket.send(JSON.stringify(frame));
    return true;
  }

  /** The server's `welcome` came: the socket is `connected`. */
  ready(): void {
    clearTimeout(this.#connectTimer);
    this.#connectedAt = Date.now();
    this.#setStatus('connected', {});
  }

  /** Drops the current socket and reconnects (its state cannot be trusted any more). */
  restart(reason: string): void {
    const socket = this.#socket;
    if (!socket) return;
    this.#detach(socket, 4000, reason);
    this.#dropped(1006, reason);
  }

  /** Closes for good (status `disconnected`). Idempotent. */
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
    this.#owner.frame(frame);
  }

  /** The one path every lost socket takes: tell the owner, then retry or give up. */
  #dropped(code: number, reason: string): void {
    clearTimeout(this.#connectTimer);
    this.#socket = null;
    this.#owner.lost(`connection closed (${code}${reason ? ` ${reason}` : ''})`);
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
    if (socket) {
      this.#detach(socket, 1000, 'client closed');
      this.#owner.lost(`client ${status}`);
    }
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

  #setStatus(status: Status, detail: StatusDetail): void {
    const old = this.#status;
    if (old === status) return;
    this.#status = status;
    this.#owner.status(status, old, detail);
  }
}

/** A positive option, or its default; anything else throws at construction. */
export function positive(name: string, value: number | undefined, fallback: number): number {
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
