/**
 * Real Redis for tests: `REDIS_URL` (default redis://127.0.0.1:6379). Suites that need it use
 * `describeRedis`: skipped with a loud message when Redis is unreachable, failing instead when
 * `REQUIRE_REDIS=1` (CI). Every run gets its own key prefix, removed afterwards.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe } from 'vitest';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function probe(): Promise<boolean> {
  const conn = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  conn.on('error', () => {});
  try {
    await conn.connect();
    return (await conn.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    conn.disconnect();
  }
}

export const redisReachable = await probe();

if (!redisReachable) {
  if (process.env.REQUIRE_REDIS === '1') throw new Error(`REQUIRE_REDIS=1 but Redis is unreachable at ${REDIS_URL}`);
  console.warn(`\n*** Redis unreachable at ${REDIS_URL}: SKIPPING the Redis test suites (set REQUIRE_REDIS=1 to fail instead) ***\n`);
}

/** `describe` for suites that need Redis (see the module comment). */
export const describeRedis = describe.skipIf(!redisReachable);

/** A key and channel prefix no other run uses. */
export function uniquePrefix(): string {
  return `hnstest:${randomBytes(6).toString('hex')}:`;
}

/** An admin connection for inspecting Redis (PUBSUB, CLIENT LIST/KILL, keys). */
export function adminRedis(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
}

/** Deletes every key under `prefix`. */
export async function deleteKeys(admin: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    if (keys.length) await admin.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** Kills the connection named `name` (CLIENT SETNAME); returns how many were killed. */
export async function killClient(admin: Redis, name: string): Promise<number> {
  const list = (await admin.client('LIST')) as string;
  let killed = 0;
  for (const line of list.split('\n')) {
    const fields = Object.fromEntries(line.split(' ').map((kv) => kv.split('=')));
    if (fields.name === name) killed += Number(await admin.client('KILL', 'ID', fields.id));
  }
  return killed;
}
