/**
 * Admission of WebSocket upgrades, before any session, routing or namespace work is spent on
 * them: shutdown, connection limits (global, per IP, per user), token buckets against reconnect
 * storms (one per client IP, then the instance's), and the origin check.
 *
 * Only a genuine upgrade (Node's `upgrade` event) takes a slot: an ordinary request that merely
 * carries `Upgrade: websocket` never becomes a socket. A slot is held for as long as the TCP
 * socket of the upgrade lives; every upgrade that does not end in an open WebSocket has its socket
 * destroyed once answered (`upgrade/sockets.ts`), so slots cannot leak and counts cannot drift.
 */
import type { Socket } from 'node:net';
import type { Context, MiddlewareHandler } from 'hono';
import { RefusalReason, WsRefusal } from './refusal.ts';
import type { AppEnv } from '../types.ts';
import { upgradeRequestOf } from './sockets.ts';
import { subscriptionOf } from './marker.ts';
import { clientIp } from '../safety/client-ip.ts';
import type { Limits } from '../safety/limits.ts';
import { originAllowed, requestOrigin } from '../safety/origin.ts';
import { KeyedBuckets } from '../safety/keyed-buckets.ts';
import { Counter } from '../safety/counter.ts';
import { TokenBucket } from '../safety/token-bucket.ts';

export class Admission {
  #draining = false;
  #open = 0;
  readonly #byIp = new Counter();
  readonly #byUser = new Counter();
  /** Null when `admissionRate` is 0 (no admission control). */
  readonly #bucket: TokenBucket | null;
  /** Null when `admissionRatePerIp` is 0 (no per-IP share). */
  readonly #bucketOfIp: KeyedBuckets | null;
  readonly #limits: Limits;
  /** The slots each open upgrade socket holds, released by one shared listener (no closure per socket). */
  readonly #ipOf = new Map<Socket, string>();
  readonly #userOf = new Map<Socket, string>();
  readonly #released: (this: Socket) => void;

  constructor(limits: Limits) {
    this.#limits = limits;
    const admission = this;
    this.#released = function releaseSlots(this: Socket) {
      admission.#release(this);
    };
    this.#bucket = limits.admissionRate > 0 ? new TokenBucket(limits.admissionRate, Math.max(1, limits.admissionBurst)) : null;
    this.#bucketOfIp = limits.admissionRatePerIp > 0 ? new KeyedBuckets(limits.admissionRatePerIp, limits.admissionBurstPerIp) : null;
  }

  /** Whether the server is shutting down (upgrades are refused with 503). */
  get draining(): boolean {
    return this.#draining;
  }

  /** From now on every upgrade is refused as retryable. */
  drain(): void {
    this.#draining = true;
  }

  /** The client address of a request, honouring the trust-proxy setting. */
  ipOf(c: Context<AppEnv>): string {
    return clientIp(c.env?.incoming, this.#limits.trustProxy);
  }

  /**
   * The first middleware of the app: lets non-upgrade requests through untouched and refuses an
   * upgrade that this instance cannot or must not take.
   */
  readonly guard: MiddlewareHandler<AppEnv> = (c, next) => {
    const incoming = upgradeRequestOf(c);
    if (!incoming) {
      // A multiplexed socket's subscribe: the socket holds its slots, but no namespace is joined while draining.
      if (this.#draining && subscriptionOf(c)) throw WsRefusal.unavailable('server is restarting; reconnect to another instance', 503, RefusalReason.DRAINING);
      return next();
    }
    const limits = this.#limits;
    if (this.#draining) throw WsRefusal.unavailable('server is restarting; reconnect to another instance', 503, RefusalReason.DRAINING);
    if (this.#open >= limits.maxConnections) {
      throw WsRefusal.unavailable('server is at its connection limit', 503, RefusalReason.CONNECTION_LIMIT);
    }
    const ip = this.ipOf(c);
    if (this.#byIp.get(ip) >= limits.maxConnectionsPerIp) {
      throw WsRefusal.unavailable('too many connections from this address', 429, RefusalReason.IP_LIMIT);
    }
    // The address's own share first: a flood from one address must not drain the instance's budget.
    if (this.#bucketOfIp && !this.#bucketOfIp.take(ip)) {
      throw WsRefusal.unavailable('too many connection attempts from this address; retry later', 429, RefusalReason.IP_RATE, 1);
    }
    if (this.#bucket && !this.#bucket.take()) {
      throw WsRefusal.unavailable('too many connection attempts; retry later', 503, RefusalReason.UPGRADE_RATE, 1);
    }
    // The slot is taken before the origin check: a refused upgrade still holds a socket until
    // its close completes, and must count like any other.
    this.#open++;
    this.#byIp.add(ip, 1);
    this.#ipOf.set(incoming.socket, ip);
    this.#onSocketClose(incoming.socket, this.#ipOf);
    if (!originAllowed(c.req.header('origin'), requestOrigin(c, limits.trustProxy), limits.allowedOrigins)) {
      throw WsRefusal.forbidden('origin not allowed', RefusalReason.ORIGIN);
    }
    return next();
  };

  /** Takes a per-user slot for a signed-in user; throws a 429 refusal past the limit. */
  acquireUser(c: Context<AppEnv>, username: string | undefined): void {
    const incoming = upgradeRequestOf(c);
    if (!incoming || username === undefined) return;
    if (this.#byUser.get(username) >= this.#limits.maxConnectionsPerUser) {
      throw WsRefusal.unavailable('too many connections for this user', 429, RefusalReason.USER_LIMIT);
    }
    this.#byUser.add(username, 1);
    this.#userOf.set(incoming.socket, username);
    this.#onSocketClose(incoming.socket, this.#userOf);
  }

  /** Releases the slot of `socket` in `slots` once it closes (now, if it already did). */
  #onSocketClose(socket: Socket, slots: Map<Socket, string>): void {
    if (socket.destroyed) return this.#release(socket, slots === this.#ipOf, slots === this.#userOf);
    // One listener per socket for both slots (the guard's, which runs first for every upgrade);
    // a socket closes once, so `on`, without the wrapper `once` allocates.
    if (slots === this.#ipOf || !this.#ipOf.has(socket)) socket.on('close', this.#released);
  }

  #release(socket: Socket, ip = true, user = true): void {
    const address = ip ? this.#ipOf.get(socket) : undefined;
    if (address !== undefined) {
      this.#ipOf.delete(socket);
      this.#open--;
      this.#byIp.add(address, -1);
    }
    const username = user ? this.#userOf.get(socket) : undefined;
    if (username !== undefined) {
      this.#userOf.delete(socket);
      this.#byUser.add(username, -1);
    }
  }
}
