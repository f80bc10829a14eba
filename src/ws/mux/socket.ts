/**
 * A multiplexed socket: one WebSocket carrying many subscriptions, each a member of its own
 * namespace. It is the `WSEvents` handed to `upgradeWebSocket`; it welcomes the socket, runs the
 * route of each `subscribe` through the app's own fetch (same middleware, same definition as a
 * direct connect), routes every tagged frame to its subscription and ends them all when the
 * socket closes.
 *
 * Subscribes and unsubscribes are processed one at a time, in order, and count toward
 * `maxSubscriptions` while pending. The rate limit is the socket's (every frame counts); a slow
 * consumer closes the whole socket (1013), and with it every subscription.
 */
import type { WSContext } from 'hono/ws';
import type { WebSocket } from 'ws';
import { CloseCode, ErrorCode } from '../../protocol/codes.ts';
import type { MultiplexWelcome, Unsubscribed } from '../../protocol/frames.ts';
import { publicCtx, type Ctx, type PublicCtx } from '../ctx.ts';
import type { MemberHost, MemberRoute } from '../member.ts';
import type { Counter } from '../safety/counter.ts';
import { InboundGate } from '../safety/inbound.ts';
import { RefusalReason } from '../upgrade/refusal.ts';
import { sendFrame } from '../safety/send.ts';
import type { SubscriptionEnv, SubscriptionMarker } from '../upgrade/marker.ts';
import type { Detachable } from '../connection.ts';
import { preFrame } from '../wire/framing.ts';
import { encodeError, encodeFrame, parseClientFrame, pathTail, withPath, type ClientMessage } from '../wire/messages.ts';
import { badPath, FAILED, refusalOf, subscribeRequest, type SubscribeBase } from './request.ts';
import { Subscription, type SubscriptionOwner } from './subscription.ts';

/** The app's own fetch, which a subscribe calls with its marker. */
export type AppFetch = (request: Request, env: SubscriptionEnv) => Response | Promise<Response>;

/** What a multiplexed socket needs besides what its members need. */
export interface MuxHost extends MemberHost {
  readonly maxBufferedBytes: number;
}

/** What the multiplexed sockets of one instance share: the subscriptions held (or pending) per client IP. */
export interface MuxShared {
  readonly subscriptionsByIp: Counter;
}

/** One path of the socket: pending until its route answered, then its subscription. */
interface Slot {
  sub: Subscription | undefined;
  /** Unsubscribed while pending: its subscribe ends without joining. */
  cancelled: boolean;
}

const settled: Promise<void> = Promise.resolve();

/** The end of a subscription the client unsubscribed (or cancelled while pending). */
const UNSUBSCRIBED: Readonly<Unsubscribed> = Object.freeze({ code: CloseCode.NORMAL, reason: 'unsubscribed' });

const SLOW_DOWN = 'too many messages; slow down';

const UNTAGGED = 'frames on a multiplexed socket carry the path of their subscription';

/** Hands the route's member to the socket that asked (one per subscribe). */
class Marker implements SubscriptionMarker {
  sub: Subscription | undefined;

  constructor(
    readonly host: MemberHost,
    readonly owner: SubscriptionOwner,
  ) {}

  accept(route: MemberRoute, path: string, pattern: string, params: Record<string, string>, ctx: Ctx): void {
    this.sub = new Subscription(this.host, route, path, pattern, params, ctx, this.owner);
  }
}

export class MuxSocket implements SubscriptionOwner {
  socket!: WebSocket;
  readonly #host: MuxHost;
  readonly #fetch: AppFetch;
  readonly #shared: MuxShared;
  readonly #base: SubscribeBase;
  readonly #ctx: Ctx;
  readonly #muxPath: string;
  /** The socket's address, as the subscribe requests' client IP. */
  readonly #incoming: SubscriptionEnv['incoming'];
  #upgrade: Detachable | undefined;
  readonly #slots = new Map<string, Slot>();
  #ops = settled;
  #gate: InboundGate | undefined;
  #closed = false;

  constructor(host: MuxHost, shared: MuxShared, fetch: AppFetch, base: SubscribeBase, muxPath: string, ctx: Ctx, upgrade: Detachable) {
    this.#host = host;
    this.#shared = shared;
    this.#fetch = fetch;
    this.#base = base;
    this.#muxPath = muxPath;
    this.#ctx = ctx;
    this.#incoming = { socket: { remoteAddress: ctx.ip }, headers: {} };
    this.#upgrade = upgrade;
  }

  onOpen(_event: Event, ws: WSContext<unknown>): void {
    this.#upgrade?.detach();
    this.#upgrade = undefined;
    this.socket = ws.raw as WebSocket;
    const welcome: Omit<MultiplexWelcome, 'ctx'> & { ctx: PublicCtx } = { ctx: publicCtx(this.#ctx), maxSubscriptions: this.#host.limits.maxSubscriptions };
    this.#send(encodeFrame('welcome', welcome));
  }

  onMessage(event: MessageEvent, ws: WSContext<unknown>): void {
    if (!this.socket) return;
    // Judged on arrival, before parsing, so a flood costs as little as possible: one rate per socket.
    const verdict = (this.#gate ??= new InboundGate(this.#host.limits)).admit(0);
    if (verdict === 'abusive') {
      ws.close(CloseCode.POLICY_VIOLATION, 'message rate limit exceeded');
      return;
    }
    if (verdict === 'limited') {
      this.#limited(event.data);
      return;
    }
    if (typeof event.data !== 'string') {
      this.#send(encodeError(ErrorCode.BINARY_NOT_SUPPORTED, 'binary frames are not accepted; send JSON text'));
      return;
    }
    const parsed = parseClientFrame(event.data, this.#host.limits.maxDepth, true);
    if (!parsed.ok) {
      const error = encodeError(parsed.code, parsed.error, parsed.id);
      if (parsed.path === undefined) this.#send(error);
      else this.#sendTagged(error, parsed.path);
      return;
    }
    const { message, path } = parsed;
    if (path === undefined) {
      if (message.type === 'subscribe') this.#subscribe(message);
      else if (message.type === 'unsubscribe') this.#unsubscribe(message);
      else this.#send(encodeError(ErrorCode.BAD_MESSAGE, UNTAGGED, message.id));
      return;
    }
    const sub = this.#slots.get(path)?.sub;
    if (!sub) {
      this.#sendTagged(encodeError(ErrorCode.NOT_SUBSCRIBED, 'this socket holds no subscription of this path', message.id), path);
      return;
    }
    // The bound on messages waiting for their handler is each subscription's, as on a direct socket.
    if (sub.pending >= this.#host.limits.maxPendingMessages) sub.rateLimited();
    else sub.receive(undefined, message);
  }

  onClose(event: CloseEvent): void {
    this.#closed = true;
    for (const [path, slot] of this.#slots) {
      this.#drop(path, slot);
      void slot.sub?.leave(event.code, event.reason);
    }
  }

  onError(event: Event): void {
    if (this.#host.log.isLevelEnabled('debug')) this.#host.log.debug({ err: (event as ErrorEvent).error, ip: this.#ctx.ip }, 'socket error');
  }

  ended(sub: Subscription, code: number, reason: string): void {
    const slot = this.#slots.get(sub.path);
    if (slot?.sub !== sub) return;
    this.#drop(sub.path, slot);
    void sub.leave(code, reason);
    // A retryable end (a replay hold that overflowed) says when to come back, as every 1013 does.
    this.#unsubscribed(sub.path, code === CloseCode.TRY_AGAIN_LATER ? { code, reason, retryAfter: 1 } : { code, reason });
  }

  #subscribe(message: ClientMessage): void {
    const path = pathOf(message.data);
    if (path === undefined) {
      this.#send(encodeError(ErrorCode.INVALID_DATA, 'invalid data for "subscribe": expected { path: string }', message.id));
      return;
    }
    const bad = badPath(path, this.#muxPath);
    if (bad) {
      this.#unsubscribed(path, { code: CloseCode.INVALID_PARAMS, reason: bad });
      return;
    }
    if (this.#slots.has(path)) {
      this.#sendTagged(encodeError(ErrorCode.ALREADY_SUBSCRIBED, 'this socket already holds (or is subscribing to) this path', message.id), path);
      return;
    }
    const max = this.#host.limits.maxSubscriptions;
    if (this.#slots.size >= max) {
      this.#refuse(path, { code: CloseCode.TOO_MANY_SUBSCRIPTIONS, reason: `this socket holds its maximum of ${max} subscriptions; unsubscribe one first` }, RefusalReason.SUBSCRIPTION_LIMIT);
      return;
    }
    const byIp = this.#shared.subscriptionsByIp;
    if (byIp.get(this.#ctx.ip) >= this.#host.limits.maxSubscriptionsPerIp) {
      this.#refuse(path, { code: CloseCode.TRY_AGAIN_LATER, reason: 'too many subscriptions from this address', retryAfter: 2 }, RefusalReason.SUBSCRIPTION_IP_LIMIT);
      return;
    }
    const slot: Slot = { sub: undefined, cancelled: false };
    this.#slots.set(path, slot);
    byIp.add(this.#ctx.ip, 1);
    this.#queue(() => this.#run(path, slot));
  }

  /** Runs the route of `path` as a direct connect would, then joins, or says why not. */
  async #run(path: string, slot: Slot): Promise<void> {
    if (this.#closed) return;
    // Cancelled before its turn: its route (session, access, onCreate) is not worth running.
    if (slot.cancelled) {
      this.#unsubscribed(path, UNSUBSCRIBED);
      return;
    }
    const marker = new Marker(this.#host, this);
    // How the subscription ends unless it joins: unsubscribed while pending, refused, or failed.
    let end: Unsubscribed;
    try {
      const response = await this.#fetch(subscribeRequest(this.#base, path), { incoming: this.#incoming, subscription: marker });
      end = marker.sub ? UNSUBSCRIBED : await refusalOf(response);
    } catch (err) {
      this.#host.log.error({ err, path }, 'subscribe failed');
      end = FAILED;
    }
    if (this.#closed) return;
    const { sub } = marker;
    // Frames are tagged with the namespace's path: the client must have named it the same way.
    if (sub && sub.path !== path) end = { code: CloseCode.INVALID_PARAMS, reason: `not a normalized path (the server names it ${sub.path.slice(0, 100)})` };
    else if (sub && !slot.cancelled) {
      slot.sub = sub;
      try {
        sub.join(this.socket);
        return;
      } catch (err) {
        // What a direct socket's open would have thrown into the adapter (an app's registry listener).
        this.#host.log.error({ err, path }, 'subscribe failed');
        end = FAILED;
        // It may have been added to its namespace (and presence) before the throw: it leaves, as a
        // direct socket's member does when its socket closes, or it would stay there for good.
        void sub.leave(end.code, end.reason);
      }
    }
    // Refusals were logged (and counted) by the route's error handler, as for an upgrade.
    this.#drop(path, slot);
    this.#unsubscribed(path, end);
  }

  #unsubscribe(message: ClientMessage): void {
    const path = pathOf(message.data);
    if (path === undefined) {
      this.#send(encodeError(ErrorCode.INVALID_DATA, 'invalid data for "unsubscribe": expected { path: string }', message.id));
      return;
    }
    const slot = this.#slots.get(path);
    if (!slot) {
      this.#sendTagged(encodeError(ErrorCode.NOT_SUBSCRIBED, 'this socket holds no subscription of this path', message.id), path);
      return;
    }
    this.#drop(path, slot);
    if (!slot.sub) {
      slot.cancelled = true;
      return;
    }
    // Delivery stops now; `unsubscribed` follows once presence forgot it and onDisconnect ran,
    // before anything queued after it (a subscribe of the same path again).
    const left = slot.sub.leave(CloseCode.NORMAL, 'unsubscribed');
    this.#queue(async () => {
      await left;
      this.#unsubscribed(path, UNSUBSCRIBED);
    });
  }

  /**
   * A frame over the socket's rate, answered where it belongs so that nothing waits for an answer
   * that never comes: a subscribe ends retryable (1013: the client subscribes again later), a
   * tagged frame gets `rate_limited` on its path with its id, an unsubscribe is served (it frees
   * what the socket holds). Parsed only here, past the rate: the abusive are closed before.
   */
  #limited(data: unknown): void {
    const parsed = typeof data === 'string' ? parseClientFrame(data, this.#host.limits.maxDepth, true) : undefined;
    const id = parsed?.ok ? parsed.message.id : parsed?.id;
    const error = encodeError(ErrorCode.RATE_LIMITED, SLOW_DOWN, id);
    if (parsed?.path !== undefined) {
      this.#sendTagged(error, parsed.path);
      return;
    }
    if (parsed?.ok && parsed.message.type === 'unsubscribe') {
      this.#unsubscribe(parsed.message);
      return;
    }
    const path = parsed?.ok && parsed.message.type === 'subscribe' ? pathOf(parsed.message.data) : undefined;
    if (path !== undefined && !this.#slots.has(path) && !badPath(path, this.#muxPath)) {
      this.#unsubscribed(path, { code: CloseCode.TRY_AGAIN_LATER, reason: SLOW_DOWN, retryAfter: 1 });
      return;
    }
    this.#send(error);
  }

  /** A subscribe refused by a limit of the socket's: logged and counted as the route's refusals are. */
  #refuse(path: string, data: Unsubscribed, reason: string): void {
    const ip = this.#ctx.ip;
    this.#host.log.info({ path, ip, reason, closeCode: data.code, error: data.reason }, 'subscription refused');
    this.#host.events.emit('refused', { reason, closeCode: data.code, status: 429, ip });
    this.#unsubscribed(path, data);
  }

  /** Runs `op` after the subscribes and unsubscribes before it; one that fails is logged and does not stop the next. */
  #queue(op: () => Promise<void>): void {
    this.#ops = this.#ops.then(op).catch((err: unknown) => {
      this.#host.log.error({ err, ip: this.#ctx.ip }, 'subscription step failed');
    });
  }

  /** Lets go of the path's slot (once: a slot already let go of is not counted again). */
  #drop(path: string, slot: Slot): void {
    if (this.#slots.get(path) !== slot) return;
    this.#slots.delete(path);
    this.#shared.subscriptionsByIp.add(this.#ctx.ip, -1);
  }

  #unsubscribed(path: string, data: Unsubscribed): void {
    this.#sendTagged(encodeFrame('unsubscribed', data), path);
  }

  #sendTagged(payload: Buffer, path: string): void {
    this.#send(withPath(payload, pathTail(path)));
  }

  #send(payload: Buffer): void {
    sendFrame(this.socket, preFrame(payload), this.#host.maxBufferedBytes);
  }
}

/** The `path` of a subscribe's or unsubscribe's data, if it is a string. */
function pathOf(data: unknown): string | undefined {
  const path = typeof data === 'object' && data !== null ? (data as { path?: unknown }).path : undefined;
  return typeof path === 'string' ? path : undefined;
}
