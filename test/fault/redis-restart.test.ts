/**
 * Fault: Redis itself shut down without saving and started again, empty, while chats flow through
 * three instances. Every log is lost with it: clients see the new epoch and resync; what was
 * accepted before stays shown, what was refused meanwhile was never accepted.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helpers.ts';
import { uniquePrefix } from '../redis.ts';
import { describeRedisServer } from '../support/describe-redis.ts';
import { startRedisServer, type RedisServer } from '../support/redis-server.ts';
import { expectClean, run } from './scenario.ts';

let redis: RedisServer;
const apps: TestApp[] = [];
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
  await redis?.stop();
});

describeRedisServer('fault: Redis restarted without persistence mid-stream', () => {
  it('loses nothing accepted, shows nothing twice, and keeps one order', async () => {
    const prefix = uniquePrefix();
    for (const id of ['A', 'B', 'C']) apps.push(await startApp({ redisUrl: redis.url, redisPrefix: prefix }, { instanceId: id }));
    const backends = apps.map((a) => ({ url: a.url, alive: true }));
    const { tallies, senders } = await run({
      name: 'Redis SHUTDOWN NOSAVE + restart',
      backends,
      async fault() {
        await redis.shutdown();
        await new Promise((resolve) => setTimeout(resolve, 500));
        await redis.start();
      },
      afterMs: 2500,
    });
    expectClean(tallies, expect);
    // The outage was seen: refused as retryable, on both paths.
    expect(senders.rest.some((s) => s.statuses.has(503))).toBe(true);
    for (const s of senders.ws) expect([...s.errors.keys()].filter((c) => c !== 'unavailable' && c !== 'disconnected')).toEqual([]);
  });
});
