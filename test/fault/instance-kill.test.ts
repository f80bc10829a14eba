/**
 * Fault: one of three instances (real processes) SIGKILLed while chats flow. Its clients reconnect
 * to the others through the balancer and catch up from the room's log; nothing accepted by any
 * instance before it died is lost for anyone.
 */
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { adminRedis, deleteKeys, describeRedis, REDIS_URL, uniquePrefix } from '../redis.ts';
import { startAppProcess, type AppProcess } from '../support/app-process.ts';
import { expectClean, run } from './scenario.ts';

let prefix: string;
let admin: Redis;
const instances: AppProcess[] = [];
beforeEach(() => {
  prefix = uniquePrefix();
  admin = adminRedis();
});
afterEach(async () => {
  await Promise.all(instances.splice(0).map((i) => i.kill('SIGKILL')));
  await deleteKeys(admin, prefix);
  await admin.quit();
});

describeRedis('fault: an instance SIGKILLed mid-stream', () => {
  it('loses nothing accepted, shows nothing twice, and keeps one order', { timeout: 60_000 }, async () => {
    const started = await Promise.all([0, 1, 2].map(() => startAppProcess({ REDIS_URL, REDIS_PREFIX: prefix })));
    instances.push(...started);
    await Promise.all(started.map((i) => i.ready()));
    const backends = started.map((i) => ({ url: i.url, alive: true }));
    const { tallies } = await run({
      name: 'instance SIGKILL',
      backends,
      async fault() {
        backends[0]!.alive = false;
        const exit = await started[0]!.kill('SIGKILL');
        expect(exit.signal).toBe('SIGKILL');
      },
      afterMs: 2500,
    });
    expectClean(tallies, expect);
  });
});
