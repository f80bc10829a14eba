/**
 * A namespace as this instance runs it: its local clients, the frames it hands them (framed once
 * for all), and what it asks of the hub (publishing, removal). Handlers see it only through the
 * `Namespace` interface.
 */
import type { WebSocket } from 'ws';
import { CloseCode } from '../../protocol/codes.ts';
import type { ReplayHead } from '../../protocol/frames.ts';
import type { LogPolicy } from '../broker/types.ts';
import type { Conn, Ctx } from '../ctx.ts';
import type { RealtimeEvents } from '../events.ts';
import { encodeFrame, pathTail, withPath } from '../wire/messages.ts';
import type { BroadcastOptions, Member, Namespace, NamespaceStats } from '../namespace.ts';
import { ReplayGates } from './replay-gate.ts';
import { headOf, skipFrame } from '../broker/sequence.ts';
import { sendFrame } from '../safety/send.ts';
import { preFrame, type PreFramed } from '../wire/framing.ts';

/** A connected client of this instance: a direct socket, or one subscription of a multiplexed socket. */
export interface Client extends Conn {
  /** The socket its frames go on (a multiplexed socket is shared by its subscriptions). */
  socket: WebSocket;
  connectedAt: number;
  /** Whether its frames carry the namespace's path (`"path"` appended: a subscription of a multiplexed socket). */
  readonly tagged: boolean;
  /** Ends it with a close code: a direct socket closes, a subscription ends alone (`unsubscribed`). */
  end(code: number, reason: string): void;
}

/** Who a frame goes to: everyone (but `except`), or one client (`to`). */
export interface Target {
  except?: string;
  to?: string;
}

/** What a live namespace asks of the hub it lives in. */
export interface NamespaceHost {
  /** Queued bytes past which a socket is closed as a slow consumer (1013). */
  readonly maxBufferedBytes: number;
  readonly events: RealtimeEvents;
  /** Resolves false when the broker could not take the frame (then nobody got it); never rejects. */
  publish(path: string, frame: Buffer, target: Target, log: LogPolicy | undefined, volatile: boolean): Promise<boolean>;
  /** Removes the namespace (only if it has no clients, with `onlyIfEmpty`); returns whether it was removed. */
  remove(ns: LiveNamespace, onlyIfEmpty: boolean): boolean;
}

export class LiveNamespace implements Namespace {
  readonly createdAt = Date.now();
  readonly #clients = new Map<string, Client>();
  readonly #host: NamespaceHost;
  /** Clients whose replay (or welcome) is being prepared or was just sent. */
  readonly #gates = new ReplayGates();
  #messagesIn = 0;
  #messagesOut = 0;
  readonly #slow = () => this.#host.events.emit('slowConsumer', { ns: this });
  /** `,"path":"<path>"}`: what a frame for a multiplexed socket ends with (made at its first such frame). */
  #tail: Buffer | undefined;
  /** Clients whose frames carry the path (subscriptions of multiplexed sockets). */
  #taggedClients = 0;

  constructor(
    readonly path: string,
    readonly pattern: string,
    readonly params: Readonly<Record<string, string>>,
    host: NamespaceHost,
    /** Set when the namespace keeps a log (its broadcasts carry seq and epoch, and replay). */
    readonly log?: LogPolicy,
  ) {
    this.#host = host;
  }

  get size(): number {
    return this.#clients.size;
  }

  broadcast(type: string, data: unknown, options: BroadcastOptions = {}): Promise<boolean> {
    const target = options.except ? { except: options.except } : {};
    return this.#host.publish(this.path, encodeFrame(type, data), target, this.log, options.volatile === true);
  }

  send(clientId: string, type: string, data: unknown, options: { id?: string } = {}): Promise<void> {
    const frame = encodeFrame(type, data, { id: options.id });
    if (this.#clients.has(clientId)) {
      this.deliverTo(clientId, frame);
      return Promise.resolve();
    }
    return this.#host.publish(this.path, frame, { to: clientId }, undefined, false).then(() => {});
  }

  members(): Member[] {
    const out: Member[] = [];
    for (const c of this.#clients.values()) {
      out.push({ clientId: c.clientId, username: c.ctx.username, connectedAt: c.connectedAt });
    }
    return out;
  }

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

  removeIfEmpty(): boolean {
    return this.#host.remove(this, true);
  }

  /** Hands a broadcast to every local client but `except`, framed once for all of them; returns how many got it. */
  deliverBroadcast(payload: Buffer, except?: string): number {
    let sent = 0;
    if (this.#clients.size > 0) {
      if (except !== undefined && this.log) this.#skip(except, payload);
      const frame = preFrame(payload);
      // Framed once more, once for all, only when subscriptions of multiplexed sockets are here:
      // a namespace of direct sockets alone pays nothing for them.
      const tagged = this.#taggedClients > 0 ? preFrame(this.#tagged(payload)) : undefined;
      for (const client of this.#clients.values()) {
        if (client.clientId !== except && this.#send(client, tagged && client.tagged ? tagged : frame, payload)) sent++;
      }
    }
    this.#messagesOut += sent;
    this.#host.events.emit('delivered', { ns: this, recipients: sent, broadcast: true });
    return sent;
  }

  /** Hands a frame of the app to one local client (`send`); returns whether it went out now. */
  deliverTo(clientId: string, payload: Buffer): boolean {
    const client = this.#clients.get(clientId);
    const sent = client !== undefined && this.#sendOne(client, payload);
    if (sent) this.#messagesOut++;
    this.#host.events.emit('delivered', { ns: this, recipients: sent ? 1 : 0, broadcast: false });
    return sent;
  }

  /**
   * Answers one client (welcome, ack, error, replay): in order with what the namespace sends it,
   * held back like the rest during its replay, but not counted as a delivery of the app.
   */
  reply(clientId: string, payload: Buffer): void {
    const client = this.#clients.get(clientId);
    if (client && this.#sendOne(client, payload)) this.#host.events.emit('replied', { ns: this });
  }

  /** Holds back every frame for this client until `resume` (its replay or welcome must come first). */
  pause(clientId: string): void {
    this.#gates.close(clientId);
  }

  /** Ends the pause: the frames held back, in order, less the sequenced ones at or below `floor` (the replay carried them). */
  resume(clientId: string, floor: ReplayHead | null): Buffer[] {
    return this.#gates.open(clientId, floor, this.#clients.has(clientId));
  }

  addClient(client: Client): void {
    this.#clients.set(client.clientId, client);
    if (client.tagged) this.#taggedClients++;
  }

  /** Returns whether the client was here. */
  deleteClient(clientId: string): boolean {
    this.#gates.forget(clientId);
    const client = this.#clients.get(clientId);
    if (!client) return false;
    if (client.tagged) this.#taggedClients--;
    return this.#clients.delete(clientId);
  }

  countMessageIn(): void {
    this.#messagesIn++;
  }

  /** Closes every local client (forced removal, shutdown). */
  closeClients(code: number = CloseCode.NAMESPACE_REMOVED, reason = 'namespace removed'): void {
    for (const client of this.#clients.values()) client.end(code, reason);
  }

  /**
   * Sends (or holds back) one frame to one client; returns whether it went out now. `payload` is
   * the frame as the namespace made it: what a replay gate holds back (untagged, tagged when sent).
   */
  #send(client: Client, frame: PreFramed, payload: Buffer): boolean {
    if (this.#gates.active) {
      const verdict = this.#gates.admit(client.clientId, payload);
      if (verdict === 'overflow') client.end(CloseCode.TRY_AGAIN_LATER, 'too many messages held during a replay');
      if (verdict !== 'send') return false;
    }
    return sendFrame(client.socket, frame, this.#host.maxBufferedBytes, this.#slow);
  }

  /** A frame for one client, tagged with the path if it is a subscription. */
  #sendOne(client: Client, payload: Buffer): boolean {
    return this.#send(client, preFrame(client.tagged ? this.#tagged(payload) : payload), payload);
  }

  /** `payload` (a JSON object) with the namespace's path appended as its last member. */
  #tagged(payload: Buffer): Buffer {
    return withPath(payload, (this.#tail ??= pathTail(this.path)));
  }

  /** The client left out of a sequenced broadcast gets its seq alone, so it sees no hole. */
  #skip(clientId: string, payload: Buffer): void {
    const client = this.#clients.get(clientId);
    const head = client && headOf(payload);
    if (head) this.#sendOne(client, skipFrame(head));
  }
}
