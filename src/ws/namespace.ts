/**
 * One live namespace: the local clients of one literal path (`/api/1/ws/hello-rooms/berlin`).
 */
import type { WebSocket } from 'ws';
import { CloseCode } from '../protocol/codes.ts';
import type { Conn, Ctx } from './ctx.ts';
import type { RealtimeEvents } from './events.ts';
import { preFrame, type PreFramed } from './frame.ts';
import { encodeFrame } from './protocol.ts';
import { closeReason } from './refusal.ts';
import type { LogPolicy } from './broker/types.ts';
import { headOf, skipFrame } from './replay/frame.ts';
import type { ReplayHead } from '../protocol/frames.ts';
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

/** Frames held back for one client during its replay or welcome, at most. */
const MAX_HELD = 10_000;

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

/** What a namespace needs from the realtime server it lives in. */
export interface NamespaceHost {
  /** Queued bytes past which a socket is closed as a slow consumer (1013). */
  readonly maxBufferedBytes: number;
  /** Resolves false when the broker could not take the broadcast (then nobody got it). */
  publish(path: string, frame: Buffer, target: { except?: string; to?: string }, log: LogPolicy | undefined, volatile: boolean): Promise<boolean>;
  remove(ns: Namespace, options: { removeIfEmpty: boolean }): boolean;
  events: RealtimeEvents;
}

export class Namespace {
  readonly createdAt = Date.now();
  readonly #clients = new Map<string, Client>();
  readonly #host: NamespaceHost;
  /** Clients whose replay (or welcome) is being prepared (frames held back) or was just sent (floor). */
  readonly #gates = new Map<string, { held: Buffer[] | null; floor: ReplayHead | null }>();
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
    /** Set when the namespace keeps a log (its broadcasts carry seq and epoch, and replay). */
    readonly log?: LogPolicy,
  ) {
    this.#host = host;
  }

  /** Number of clients connected to this namespace on this instance. */
  get size(): number {
    return this.#clients.size;
  }

  /**
   * Sends `{ type, data }` to every client of this namespace on every instance, optionally except
   * one client. Serialized once. In a namespace with a log it is sequenced, logged and published in
   * one step. Resolves true once the broker took it, false when it could not (then it reached
   * nobody); never rejects. A handler need not await it: the sender's `ack` waits for every
   * broadcast its handler began, and becomes an `unavailable` error if one failed.
   */
  broadcast(type: string, data: unknown, options: BroadcastOptions = {}): Promise<boolean> {
    const target = options.except ? { except: options.except } : {};
    return this.#host.publish(this.path, encodeFrame(type, data), target, this.log, options.volatile === true);
  }

  /** Sends `{ type, data, id? }` to one client of this namespace, on whichever instance it is. */
  send(clientId: string, type: string, data: unknown, options: { id?: string } = {}): Promise<void> {
    const frame = encodeFrame(type, data, { id: options.id });
    if (this.#clients.has(clientId)) {
      this.deliver(frame, undefined, clientId);
      return Promise.resolve();
    }
    return this.#host.publish(this.path, frame, { to: clientId }, undefined, false).then(() => {});
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
      if (client && this.#send(client, preFrame(payload))) sent = 1;
    } else if (this.#clients.size > 0) {
      if (except !== undefined && this.log) this.#skip(except, payload);
      const frame = preFrame(payload);
      for (const client of this.#clients.values()) {
        if (client.clientId !== except && this.#send(client, frame)) sent++;
      }
    }
    this.#messagesOut += sent;
    this.#host.events.emit('delivered', { ns: this, recipients: sent, broadcast: to === undefined });
    return sent;
  }

  /**
   * @internal Keeps every frame for this client back until `release` (a replay or welcome is
   * being prepared and must come first).
   */
  hold(clientId: string): void {
    this.#gates.set(clientId, { held: [], floor: null });
  }

  /**
   * @internal Ends the hold: returns the frames kept back, in order, less the sequenced ones at or
   * below `floor` (the client has them already). Copies of those may still be on their way
   * (the bus and the store are different connections), so they are dropped on arrival too,
   * until a newer one comes by.
   */
  release(clientId: string, floor: ReplayHead | null): Buffer[] {
    const held = this.#gates.get(clientId)?.held ?? [];
    this.#gates.delete(clientId);
    if (!floor) return held;
    const out: Buffer[] = [];
    let passed = false;
    for (const frame of held) {
      const verdict = belowFloor(frame, floor);
      if (verdict === 'below') continue;
      if (verdict === 'newer') passed = true;
      out.push(frame);
    }
    if (!passed && this.#clients.has(clientId)) this.#gates.set(clientId, { held: null, floor });
    return out;
  }

  /** Sends (or holds back) one frame to one client; returns whether it went out now. */
  #send(client: Client, frame: PreFramed): boolean {
    // One size check when no client is gated: what namespaces without replay pay.
    const gate = this.#gates.size ? this.#gates.get(client.clientId) : undefined;
    if (gate?.held) {
      // A replay store that does not answer must not make the hold grow without end: the client
      // reconnects (1013) and syncs again.
      if (gate.held.length >= MAX_HELD) client.socket.close(CloseCode.TRY_AGAIN_LATER, 'too many messages held during a replay');
      else gate.held.push(frame.payload);
      return false;
    }
    if (gate?.floor) {
      const verdict = belowFloor(frame.payload, gate.floor);
      if (verdict === 'below') return false;
      if (verdict === 'newer') this.#gates.delete(client.clientId);
    }
    return sendFrame(client.socket, frame, this.#host.maxBufferedBytes, this.#slow);
  }

  /** The client left out of a sequenced broadcast gets its seq alone, so it sees no hole. */
  #skip(clientId: string, payload: Buffer): void {
    const client = this.#clients.get(clientId);
    const head = client && headOf(payload);
    if (head) this.#send(client, preFrame(skipFrame(head)));
  }

  /** @internal */
  add(client: Client): void {
    this.#clients.set(client.clientId, client);
  }

  /** @internal Returns whether the client was here. */
  delete(clientId: string): boolean {
    this.#gates.delete(clientId);
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

/** Whether a frame is sequenced at or below `floor` (same epoch), above it, or not sequenced (or another epoch). */
function belowFloor(frame: Buffer, floor: ReplayHead): 'below' | 'newer' | 'other' {
  const head = headOf(frame);
  if (!head || head.epoch !== floor.epoch) return 'other';
  return head.seq <= floor.seq ? 'below' : 'newer';
}
