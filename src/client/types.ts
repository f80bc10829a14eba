/**
 * The client's public types: statuses, options, and the WebSocket it needs. The frames it reads
 * are the protocol's (`src/protocol/`).
 */
import type { Frame, ReplayHead, Welcome } from '../protocol/index.ts';

export type { Frame, ReplayHead, Welcome };

/**
 * - `connecting`: the first attempt, before any `welcome`.
 * - `connected`: the server sent `welcome`; messages flow.
 * - `reconnecting`: the socket dropped (or could not open) for a retryable reason; a retry is
 *   scheduled, or waits for the browser's `online` event.
 * - `disconnected`: `close()` was called. Final.
 * - `rejected`: the server refused for good (close code 4400-4499); the detail has the reason. Final.
 */
export type Status = 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'rejected';

/** Why the status changed, when a socket close caused it. */
export interface StatusDetail {
  /** Close code (1006 when the connection failed or dropped without a close frame). */
  code?: number;
  /** Close reason sent by the server (e.g. `invalid params: roomName: ...`), or `offline`. */
  reason?: string;
  /** Delay before the next attempt, when one is scheduled. */
  delayMs?: number;
}

/** What `resync` resolves with: the seq of the state it loaded (and its epoch, if the REST answer has it). */
export type ResyncResult = number | { seq: number; epoch?: string };

/** The subset of the browser `WebSocket` the client uses; `ws` in Node has it too. */
export interface WebSocketLike {
  readonly readyState: number;
  // Handler parameters are `any` so that `ws`'s own, narrower event classes fit as they are (a
  // handler property is checked contravariantly); the client reads only `MessageEventLike` and
  // `CloseEventLike` from them.
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** What the client reads of a message event. */
export interface MessageEventLike {
  data: unknown;
}

/** What the client reads of a close event. */
export interface CloseEventLike {
  code: number;
  reason: string;
}

/** A WebSocket constructor: the browser's, or a `ws` subclass that adds headers (cookies). */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Where `online`/`offline` events come from (the browser's `window`). */
export interface NetworkEvents {
  addEventListener(type: 'online' | 'offline', listener: () => void): void;
  removeEventListener(type: 'online' | 'offline', listener: () => void): void;
}

export interface ClientOptions {
  /** Base URL the path is resolved against (`http(s)` is turned into `ws(s)`). Default: the page's location. */
  baseUrl?: string;
  /** WebSocket constructor. Default: `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor;
  /** Ceiling of the first retry's delay in ms; it doubles per failed attempt. Default 500. */
  minReconnectDelayMs?: number;
  /** Largest delay between attempts in ms. Default 20000. */
  maxReconnectDelayMs?: number;
  /** A connection that lasted this long (ms) resets the backoff to its first step. Default 5000. */
  stableAfterMs?: number;
  /** An attempt without `welcome` after this many ms is abandoned and retried. Default 10000. */
  connectTimeoutMs?: number;
  /** Default timeout of `request()` in ms. Default 10000. */
  requestTimeoutMs?: number;
  /** Source of `online`/`offline` events; `null` to ignore them. Default: `window` in a browser. */
  network?: NetworkEvents | null;
  /** Random numbers in [0, 1) for the jitter. Default `Math.random`. */
  random?: () => number;
  /** Called with what a handler of yours threw, and with malformed server frames. Default `console.error`. */
  onError?: (error: unknown) => void;
  /**
   * Loads the resource's full state (a REST refetch) and resolves with the seq that state is at
   * (the REST answer reports it). Called after the first `welcome`, and whenever a replay cannot
   * cover what was missed (`gap`); in a namespace without replay, after every `welcome`. Frames
   * at or below the seq it returns are dropped, later ones follow. If it rejects, the client
   * reconnects and tries again. Default: none (a gap then simply continues from the server's seq).
   */
  resync?: () => Promise<ResyncResult>;
}
