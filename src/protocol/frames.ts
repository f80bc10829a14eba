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

/** Message types the framework itself sends or answers; a namespace cannot declare them. */
export const RESERVED_TYPES: ReadonlySet<string> = new Set(['welcome', 'error', 'ack', 'sync', 'synced', 'gap', 'skip', 'head']);
