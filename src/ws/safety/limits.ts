/**
 * Every protective limit of the realtime server, with its default. `src/config.ts` reads them
 * from the environment; `docs/limits.md` lists them with their codes and recommended values.
 */

export interface Limits {
  /** Largest accepted frame in bytes; a larger one closes the socket with 1009. */
  maxPayload: number;
  /** Fragments of one message; more close the socket with 1008 (each costs a buffer until the message ends). */
  maxFragments: number;
  /** Pings a peer may send whose pongs are not yet written (it reads none); more close it with 1008. */
  maxPendingPongs: number;
  /** Deepest accepted JSON nesting of a client frame; deeper is answered `bad_message`. */
  maxDepth: number;
  /** Open sockets on this instance; past it, upgrades get HTTP 503 (retryable). */
  maxConnections: number;
  /** Open sockets per client IP; past it, upgrades get HTTP 429 (retryable). */
  maxConnectionsPerIp: number;
  /** Open sockets per signed-in username (guests are bounded per IP); past it, HTTP 429. */
  maxConnectionsPerUser: number;
  /** Upgrades admitted per second on this instance (token bucket); past it, HTTP 503. */
  admissionRate: number;
  /** Upgrades admitted in a burst above `admissionRate`. */
  admissionBurst: number;
  /**
   * Upgrades admitted per second from one client IP (token bucket, checked before the instance's
   * own): one address gets at most this share of `admissionRate`; past it, HTTP 429. 0: no share.
   */
  admissionRatePerIp: number;
  /** Upgrades one client IP may make in a burst above `admissionRatePerIp`. */
  admissionBurstPerIp: number;
  /** Subscriptions one multiplexed socket may hold (pending ones count); past it, `unsubscribed` 4429 for that path. */
  maxSubscriptions: number;
  /** Subscriptions of all multiplexed sockets of one client IP (pending ones count); past it, `unsubscribed` 1013 (retryable). */
  maxSubscriptionsPerIp: number;
  /** Live namespaces on this instance; an upgrade that would create one more gets HTTP 503. */
  maxNamespaces: number;
  /** Messages per second per connection (token bucket); past it, `error` `rate_limited`. */
  messageRate: number;
  /** Messages a connection may send in a burst above `messageRate`. */
  messageBurst: number;
  /**
   * Messages of one connection waiting for its handler (they are handled one at a time); past it,
   * `rate_limited`, so a slow handler cannot let a client's queue grow without bound.
   */
  maxPendingMessages: number;
  /** Rate-limited messages tolerated (refilled at a quarter of `messageRate`) before closing with 1008. */
  maxRejected: number;
  /** Bytes queued for one socket past which it is a slow consumer and closed with 1013. */
  maxBufferedBytes: number;
  /** Interval of server pings in ms; a peer silent for a whole interval is terminated. 0: off. */
  pingIntervalMs: number;
  /** How long a closing socket waits for the peer's close frame before it is destroyed, in ms. */
  closeTimeoutMs: number;
  /** Reverse proxies in front of this server whose X-Forwarded-For is trusted; 0: ignore it. */
  trustProxy: number;
  /** Origins allowed besides the server's own; `*` allows any. */
  allowedOrigins: readonly string[];
  /** Largest REST request body in bytes; a larger one is answered 413 before it is read. */
  httpMaxBodyBytes: number;
  /**
   * State-changing REST requests (POST, PUT, PATCH, DELETE) per second per client IP and per
   * signed-in user (token bucket); past it, HTTP 429 with Retry-After. 0: no limit.
   */
  httpWriteRate: number;
  /** State-changing REST requests in a burst above `httpWriteRate`. */
  httpWriteBurst: number;
  /**
   * Open TCP connections of the HTTP server (REST, upgrades and sockets); past it, new ones are
   * dropped. Unless given: `maxConnections` + 2000, at least 12000.
   */
  httpMaxConnections: number;
  /**
   * Open TCP connections per peer address (not applied behind trusted proxies); past it, new ones
   * are dropped. Unless given: `maxConnectionsPerIp` + 100, at least 200.
   */
  httpMaxConnectionsPerIp: number;
  /** How long a client may take to send a request's headers before its connection is closed, in ms. */
  httpHeadersTimeoutMs: number;
}

/** Defaults: generous for a single app server, safe on the open internet. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxPayload: 64 * 1024,
  maxFragments: 64,
  maxPendingPongs: 60,
  maxDepth: 32,
  maxConnections: 10_000,
  maxConnectionsPerIp: 100,
  maxConnectionsPerUser: 20,
  admissionRate: 200,
  admissionBurst: 400,
  admissionRatePerIp: 20,
  admissionBurstPerIp: 40,
  maxSubscriptions: 100,
  maxSubscriptionsPerIp: 1000,
  maxNamespaces: 10_000,
  messageRate: 20,
  messageBurst: 40,
  maxPendingMessages: 100,
  maxRejected: 40,
  maxBufferedBytes: 1024 * 1024,
  pingIntervalMs: 25_000,
  closeTimeoutMs: 5_000,
  trustProxy: 0,
  allowedOrigins: [],
  httpMaxBodyBytes: 64 * 1024,
  httpWriteRate: 10,
  httpWriteBurst: 40,
  httpMaxConnections: 12_000,
  httpMaxConnectionsPerIp: 200,
  httpHeadersTimeoutMs: 10_000,
});

/** The default of `httpMaxConnections` for a `maxConnections`. */
export function httpConnectionsFor(maxConnections: number): number {
  return Math.max(DEFAULT_LIMITS.httpMaxConnections, maxConnections + 2000);
}

/** The default of `httpMaxConnectionsPerIp` for a `maxConnectionsPerIp`. */
export function httpConnectionsPerIpFor(maxConnectionsPerIp: number): number {
  return Math.max(DEFAULT_LIMITS.httpMaxConnectionsPerIp, maxConnectionsPerIp + 100);
}

/** Defaults completed with `overrides`; throws on a value no deployment could mean. */
export function resolveLimits(overrides: Partial<Limits> = {}): Limits {
  const limits = { ...DEFAULT_LIMITS, ...overrides };
  // Every socket is a TCP connection: the TCP caps follow the socket limits unless set.
  limits.httpMaxConnections = overrides.httpMaxConnections ?? httpConnectionsFor(limits.maxConnections);
  limits.httpMaxConnectionsPerIp = overrides.httpMaxConnectionsPerIp ?? httpConnectionsPerIpFor(limits.maxConnectionsPerIp);
  for (const [key, value] of Object.entries(limits)) {
    if (typeof value === 'number' && !(Number.isFinite(value) && value >= 0)) {
      throw new RangeError(`limit ${key} must be a finite number >= 0 (got ${value})`);
    }
  }
  return limits;
}
