/**
 * One way to open a Redis connection for the framework: commands fail fast while disconnected
 * (nothing piles up in memory during an outage, and a caller can fall back at once), the
 * connection comes back by itself with capped, jittered backoff, and errors are logged, never
 * thrown: an 'error' event without a listener would crash the process.
 */
import { Redis } from 'ioredis';
import type { Logger } from './observe/logger.ts';

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
  let failing = false;
  conn.on('error', (err: Error) => {
    // One warning per outage; reconnect attempts repeat the same error every few hundred ms.
    if (!failing) log.warn({ err: err.message, connection: name }, 'redis connection error');
    else log.debug({ err: err.message, connection: name }, 'redis connection error');
    failing = true;
  });
  conn.on('ready', () => {
    if (failing) log.info({ connection: name }, 'redis connection restored');
    failing = false;
  });
  return conn;
}

/** Closes a connection politely, or at once when it is down. Never rejects. */
export async function closeRedis(conn: Redis): Promise<void> {
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

/** Resolves once the connection is ready (at once if it is). */
export function whenReady(conn: Redis): Promise<void> {
  if (conn.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => conn.once('ready', () => resolve()));
}
