/**
 * `describe` variants for suites that start their own Redis processes: skipped with a loud message
 * when the binaries are missing, failing instead when `REQUIRE_REDIS=1` (CI), like `describeRedis`
 * in `test/redis.ts` does for the shared Redis. Kept apart from the harness so that scripts and
 * child processes can use the harness without loading vitest.
 */
import { describe } from 'vitest';
import { redisCliVersion, redisServerVersion } from './redis-server.ts';

/** Throws when REQUIRE_REDIS=1 and something is `missing`, else warns loudly; returns whether suites may run. */
function usable(missing: string | undefined, what: string): boolean {
  if (!missing) return true;
  if (process.env.REQUIRE_REDIS === '1') throw new Error(`REQUIRE_REDIS=1 but ${missing}: cannot run the ${what} suites`);
  console.warn(`\n*** ${missing}: SKIPPING the ${what} suites (set REQUIRE_REDIS=1 to fail instead) ***\n`);
  return false;
}

const major = Number(redisServerVersion?.split('.')[0] ?? 0);

/** For suites that start their own `redis-server` (test/support/redis-server.ts). */
export const describeRedisServer = describe.skipIf(!usable(redisServerVersion ? undefined : 'redis-server is not installed', 'private redis-server'));

/** Whether suites may start their own cluster (test/support/redis-cluster.ts): Redis 7+ (sharded pub/sub, cluster-port) and redis-cli. */
export const redisClusterUsable = usable(
  !redisServerVersion || !redisCliVersion
    ? 'redis-server or redis-cli is not installed'
    : major < 7
      ? `redis-server ${redisServerVersion} is older than 7 (sharded pub/sub, cluster-port)`
      : undefined,
  'Redis Cluster',
);

/** For suites that start their own cluster (see `redisClusterUsable`). */
export const describeRedisCluster = describe.skipIf(!redisClusterUsable);
