/**
 * One live namespace: the local clients of one literal path (`/api/1/ws/hello-rooms/berlin`).
 */
import type { WebSocket } from 'ws';
import { CloseCode } from './codes.ts';
import type { Conn, Ctx } from './ctx.ts';
import type { RealtimeEvents } from './events.ts';
import { preFrame } from './frame.ts';
import { encodeFrame } from './protocol.ts';
import { closeReason } from './refusal.ts';
import { sendFrame } from './safety/send.ts';

/** A connected client of this instance. */
export interface Client extends Conn {
  socket: WebSocket;
  connectedAt: number;
}

/** A member as shown by presence: who, which connection, since when. */
export interface Member {
  clientId: string;
  username: string;
  connectedAt: number;
}

export interface NamespaceStats {
  path: string;
  pattern: string;
  clients: number;
  messagesIn: number;
  messagesOut: number;
  createdAt: number;
}

/** What a namespace needs from the realtime server it lives in. */
export interface NamespaceHost {
  /** Queued bytes past which a socket is closed as a slow consumer (1013). */
  readonly maxBufferedBytes: number;
  publish(path: string, frame: Buffer, target: { except?: string; to?: string }): Promise<void>;
  remove(ns: Namespace, options: { removeIfEmpty: boolean }): boolean;
  events: RealtimeEvents;
}

export class Namespace {
  readonly createdAt = Date.now();
  readonly #clients = new Map<string, Client>();
  readonly #host: NamespaceHost;
  #messagesIn = 0;
  #messagesOut = 0;
  readonly #slow = () => this.#host.events.emit('slowConsumer', { ns: this });

  constructor(
    /** The literal path, e.g. `/api/1/ws/hello-rooms/berlin`. */
    readonly path: string,
    /** The route pattern it was created from, e.g. `/api/1/ws/hello-rooms/:roomName`. */
    readonly pattern: string,
    /** Validated params of the pattern. */
    readonly params: Readonly<Record<string, string>>,
    host: NamespaceHost,
  ) {
    this.#host = host;
  }

  /** Number of clients connected to this namespace on this instance. */
  get size(): number {
    return this.#clients.size;
  }

  /**
   * Sends `{ type, data }` to every client of this namespace on every instance, optionally except
   * one client. Serialized once. Resolves once handed to the bus; never rejects (failures are logged).
   */
  broadcast(type: string, data: unknown, options: { except?: string } = {}): Promise<void> {
    return this.#host.publish(this.path, encodeFrame(type, data), options.except ? { except: options.except } : {});
  }

  /** Sends `{ type, data, id? }` to one client of this namespace, on whichever instance it is. */
  send(clientId: string, type: string, data: unknown, options: { id?: string } = {}): Promise<void> {
    const frame = encodeFrame(type, data, { id: options.id });
    if (this.#clients.has(clientId)) {
      this.deliver(frame, undefined, clientId);
      return Promise.resolve();
    }
    return this.#host.publish(this.path, frame, { to: clientId });
  }

  /** Local members of this namespace. */
  members(): Member[] {
    const out: Member[] = [];
    for (const c of this.#clients.values()) {
      out.push({ clientId: c.clientId, username: c.ctx.username, connectedAt: c.connectedAt });
    }
    return out;
  }

  /** ctx of a local client, if it is here. */
  ctxOf(clientId: string): Ctx | undefined {
    return this.#clients.get(clientId)?.ctx;
  }

  getStats(): NamespaceStats {
    return {
      path: this.path,
      pattern: this.pattern,
      clients: this.#clients.size,
      messagesIn: this.#messagesIn,
      messagesOut: this.#messagesOut,
      createdAt: this.createdAt,
    };
  }

  /** Removes this namespace if it has no clients; returns whether it was removed. */
  removeIfEmpty(): boolean {
    return this.#host.remove(this, { removeIfEmpty: true });
  }

  /** @internal Hands a serialized frame to local sockets, framed once for all of them; returns how many it was sent to. */
  deliver(payload: Buffer, except?: string, to?: string): number {
    let sent = 0;
    if (to !== undefined) {
      const client = this.#clients.get(to);
      if (client && sendFrame(client.socket, preFrame(payload), this.#host.maxBufferedBytes, this.#slow)) sent = 1;
    } else if (this.#clients.size > 0) {
      const frame = preFrame(payload);
      for (const client of this.#clients.values()) {
        if (client.clientId !== except && sendFrame(client.socket, frame, this.#host.maxBufferedBytes, this.#slow)) sent++;
      }
    }
    this.#messagesOut += sent;
    this.#host.events.emit('delivered', { ns: this, recipients: sent, broadcast: to === undefined });
    return sent;
  }

  /** @internal */
  add(client: Client): void {
    this.#clients.set(client.clientId, client);
  }

  /** @internal Returns whether the client was here. */
  delete(clientId: string): boolean {
    return this.#clients.delete(clientId);
  }

  /** @internal */
  countIn(): void {
    this.#messagesIn++;
  }

  /** @internal Closes every local client (forced removal, shutdown). */
  closeAll(code: number = CloseCode.NAMESPACE_REMOVED, reason = 'namespace removed'): void {
    for (const client of this.#clients.values()) client.socket.close(code, closeReason(reason));
  }
}
