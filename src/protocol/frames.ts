/**
 * The frames of the wire protocol, as the server sends and the client reads them. No Node
 * imports: the browser client bundles this module.
 */

/** Where a namespace's log stands: the last seq given out, in which epoch. */
export interface ReplayHead {
  seq: number;
  /**
   * Changes whenever the sequence starts over (log lost: Redis flushed or restarted, process
   * restarted, expired). `''` when the namespace has no log yet (it never broadcast): its first
   * broadcast starts an epoch at seq 1.
   */
  epoch: string;
}

/** A message from a client: `{ type, data?, id? }`; an `id` asks for a reply carrying it (`ack` or `error`). */
export interface ClientFrame {
  type: string;
  data?: unknown;
  id?: string;
  /** On a multiplexed socket: the subscription it is for (none: the socket's own `subscribe`/`unsubscribe`). */
  path?: string;
}

/** A frame from the server: `{ type, data, seq?, epoch?, replayed?, id? }`. */
export interface Frame<T = unknown> {
  type: string;
  data: T;
  id?: string;
  /** Position in the namespace's sequence (broadcasts of a replay namespace). */
  seq?: number;
  /** The sequence's epoch; a new one means the server's log started over. */
  epoch?: string;
  /** Sent again in answer to `sync`: the client missed it while disconnected (or on a hole). */
  replayed?: true;
  /** On a multiplexed socket: the subscription (namespace path) it belongs to; none for the socket's own frames. */
  path?: string;
}

/** What the `welcome` frame carries. */
export interface Welcome {
  clientId: string;
  path: string;
  /** In a replay namespace: where its sequence stands (null if the server could not read it). */
  replay?: ReplayHead | null;
  /** The connection's ctx, without its IP. */
  ctx: { username: string; roles: string[]; params: Record<string, string>; [key: string]: unknown };
}

/**
 * `subscribe` on a multiplexed socket: the namespace path. A client that was subscribed before
 * syncs as on a direct socket: a tagged `sync` after the subscription's tagged `welcome`.
 */
export interface SubscribeData {
  path: string;
}

/** `unsubscribe` on a multiplexed socket. */
export interface UnsubscribeData {
  path: string;
}

/**
 * `unsubscribed`: the end of one subscription on a multiplexed socket, with the code a direct
 * socket would have closed with (4400-4499 permanent, 1013 retryable after `retryAfter` seconds,
 * 1000 when the client unsubscribed).
 */
export interface Unsubscribed {
  code: number;
  reason: string;
  retryAfter?: number;
}

/** The first frame of a multiplexed socket (no `path`): who it is, and how many subscriptions it may hold. */
export interface MultiplexWelcome {
  ctx: Welcome['ctx'];
  maxSubscriptions: number;
}

/** Message types the framework itself sends or answers; a namespace cannot declare them. */
export const RESERVED_TYPES: ReadonlySet<string> = new Set(['welcome', 'error', 'ack', 'sync', 'synced', 'gap', 'skip', 'head', 'unsubscribed']);
