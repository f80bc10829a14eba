/**
 * One way to open a Redis connection for the framework, to one Redis or to a Redis Cluster:
 * commands fail fast while disconnected (nothing piles up in memory during an outage, and a
 * caller can fall back at once), the connection comes back by itself with capped, jittered
 * backoff, and errors are logged once per outage, never thrown: an 'error' event without a
 * listener would crash the process.
 */
import { Cluster, Redis } from 'ioredis';
import type { Logger } from './observe/logger.ts';

/** A node of a Redis Cluster to start from (`REDIS_CLUSTER_NODES`); the client discovers the others. */
export interface NodeAddress {
  host: string;
  port: number;
}

/** Where the Redis-backed services live: one Redis (`url`) or a Redis Cluster (`clusterNodes`). */
export type RedisTarget = { url: string; clusterNodes?: undefined } | { clusterNodes: readonly NodeAddress[]; url?: undefined };

/**
 * A command sent to a node that does not answer (a hung or partitioned master) fails after this
 * long: a cluster client's per-node connections keep an offline queue of their own that nothing
 * else bounds.
 */
const CLUSTER_COMMAND_TIMEOUT_MS = 1000;

/** Longest wait between two reconnect attempts. */
const MAX_RECONNECT_DELAY_MS = 2000;

/**
 * Opens a connection (it connects in the background; watch `status` / the `ready` event).
 * `name` is set with CLIENT SETNAME, so that `CLIENT LIST` shows which instance and role it is.
 */
export function connectRedis(url: string, name: string, log: Logger, options: { autoPipelining?: boolean } = {}): Redis {
  const conn = new Redis(url, {
    connectionName: name,
    // Commands issued in one tick leave in one write (many broadcasts of one I/O phase: one syscall).
    enableAutoPipelining: options.autoPipelining === true,
    // Fail fast: no offline queue, and a command in flight when the connection drops is rejected
    // rather than resent later (a resent PUBLISH could arrive twice, or long after the fact).
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // The owner restores subscriptions from its own state, which knows what is still wanted.
    autoResubscribe: false,
    retryStrategy: (attempt) => Math.round(Math.random() * Math.min(MAX_RECONNECT_DELAY_MS, 50 * 2 ** attempt)) + 20,
  });
  logOutages(conn, name, log);
  return conn;
}

/**
 * Opens a Redis Cluster client (it connects in the background; watch `status` / `ready`). Fails
 * fast like `connectRedis`: no retry of a command on a failing node (a MOVED during a resharding
 * is still followed), and a bound on a command to a node that hangs. Send every command through
 * `whileReady(conn)`: the client queues what it is given while it is not ready (see below).
 * `sharded`: the client also keeps one sharded-pub/sub subscriber per master (`ssubscribe`),
 * named `ioredis-cluster(ssubscriber):<name>` in `CLIENT LIST`; its own connections are `<name>`.
 * `autoPipelining`: as for `connectRedis`, per node.
 */
export function connectRedisCluster(nodes: readonly NodeAddress[], name: string, log: Logger, options: { sharded?: boolean; autoPipelining?: boolean } = {}): Cluster {
  const conn = new Cluster(
    nodes.map((n) => ({ ...n })),
    {
      shardedSubscribers: options.sharded === true,
      // As on one Redis: commands of one tick leave in one write per node.
      enableAutoPipelining: options.autoPipelining === true,
      // Without its queue the client refuses ("Connection is closed.") every command to a node
      // whose connection is still being opened, and it opens them lazily, at the first command:
      // two commands to a fresh node, and the second fails. With it, such a command waits for
      // that connection (bounded by the command timeout), and `whileReady` keeps the client's own
      // queue, for while it is not connected at all, empty.
      enableOfflineQueue: true,
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 0,
      retryDelayOnTryAgain: 0,
      maxRedirections: 3,
      // Off by default: the slot map is then re-read only on MOVED and on lost connections. The
      // subscriber also learns this way of a slot that moved without touching its channels.
      ...(options.sharded ? { slotsRefreshInterval: 5000 } : {}),
      clusterRetryStrategy: (attempt) => Math.round(Math.random() * Math.min(MAX_RECONNECT_DELAY_MS, 50 * 2 ** attempt)) + 20,
      redisOptions: {
        connectionName: name,
        commandTimeout: CLUSTER_COMMAND_TIMEOUT_MS,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        // A connection that failed to connect would otherwise keep the process alive 2 s.
        disconnectTimeout: 50,
      },
    },
  );
  logOutages(conn, name, log);
  return conn;
}

/** Opens a connection to `target`: one Redis, or a Cluster client (see `connectRedisCluster`). */
export function openRedis(target: RedisTarget, name: string, log: Logger): Redis | Cluster {
  return target.clusterNodes ? connectRedisCluster(target.clusterNodes, name, log) : connectRedis(target.url, name, log);
}

/** Logs the first error of an outage as a warning and its recovery once (a cluster client repeats errors many times a second while a node is down). */
function logOutages(conn: Redis | Cluster, name: string, log: Logger): void {
  let failing = false;
  conn.on('error', (err: Error) => {
    if (!failing) log.warn({ err: err.message, connection: name }, 'redis connection error');
    else log.debug({ err: err.message, connection: name }, 'redis connection error');
    failing = true;
  });
  conn.on('ready', () => {
    if (failing) log.info({ connection: name }, 'redis connection restored');
    failing = false;
  });
}

/** Closes a connection politely, or at once when it is down. Never rejects. */
export async function closeRedis(conn: Redis | Cluster): Promise<void> {
  if (conn.status === 'ready') {
    try {
      await conn.quit();
      return;
    } catch {
      // fall through to a hard disconnect
    }
  }
  conn.disconnect();
}

/**
 * `conn`, to send a command on, if it is connected; else throws (the command fails at once, like
 * on a connection without offline queue, instead of waiting for a reconnect in the client's queue).
 * @example
 * await whileReady(this.#redis).hget(key, 'info');
 */
export function whileReady<T extends Redis | Cluster>(conn: T): T {
  if (conn.status !== 'ready') throw new Error(`Redis connection not ready (${conn.status}): command not sent`);
  return conn;
}

/** Resolves once the connection is ready (at once if it is). */
export function whenReady(conn: Redis | Cluster): Promise<void> {
  if (conn.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => conn.once('ready', () => resolve()));
}
