/**
 * The namespace as handlers and REST routes see it: the local clients of one literal path
 * (`/api/1/ws/hello-rooms/berlin`), what it broadcasts and who is in it.
 */
import type { Ctx } from './ctx.ts';
import type { Member } from './presence/types.ts';

export type { Member };

export interface NamespaceStats {
  path: string;
  pattern: string;
  clients: number;
  messagesIn: number;
  /** Frames of the app delivered to this instance's clients: broadcasts and `send`s, not acks or errors. */
  messagesOut: number;
  createdAt: number;
}

/** Options of a broadcast. */
export interface BroadcastOptions {
  /** A client that does not get it (usually the sender). */
  except?: string;
  /**
   * Neither sequenced nor logged, and it may be dropped: for what is stale a moment later
   * (presence events, cursors, typing). While the broker is down it reaches this instance's
   * clients only; it never holds up an ack.
   */
  volatile?: boolean;
}

/** One namespace of this instance, as handed to every handler as `ns`. */
export interface Namespace {
  /** The literal path, e.g. `/api/1/ws/hello-rooms/berlin`. */
  readonly path: string;
  /** The route pattern it was created from, e.g. `/api/1/ws/hello-rooms/:roomName`. */
  readonly pattern: string;
  /** Validated params of the pattern. */
  readonly params: Readonly<Record<string, string>>;
  readonly createdAt: number;
  /** Number of clients connected to this namespace on this instance. */
  readonly size: number;
  /**
   * Sends `{ type, data }` to every client of this namespace on every instance, optionally except
   * one client. Serialized once. In a namespace with a log it is sequenced, logged and published in
   * one step. Resolves true once the broker took it, false when it could not (then it reached
   * nobody); never rejects. A handler need not await it: the sender's `ack` waits for every
   * broadcast its handler began, and becomes an `unavailable` error if one failed.
   */
  broadcast(type: string, data: unknown, options?: BroadcastOptions): Promise<boolean>;
  /** Sends `{ type, data, id? }` to one client of this namespace, on whichever instance it is. */
  send(clientId: string, type: string, data: unknown, options?: { id?: string }): Promise<void>;
  /** Local members of this namespace. */
  members(): Member[];
  /** ctx of a local client, if it is here. */
  ctxOf(clientId: string): Ctx | undefined;
  getStats(): NamespaceStats;
  /** Removes this namespace if it has no clients; returns whether it was removed. */
  removeIfEmpty(): boolean;
}
