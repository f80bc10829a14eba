/**
 * Fault: each Redis connection of one instance killed (CLIENT KILL) while chats flow through three
 * instances, on one Redis and on a Redis Cluster (there on every node: a cluster client's own
 * connections, and its sharded subscribers). Counted for every observer: accepted but never shown
 * (0), shown twice (0), orders (1).
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import WebSocket from 'ws';
import { connect, type Frame } from '../../src/client/index.ts';
import { startApp, type TestApp } from '../helpers.ts';
import { adminRedis, deleteKeys, describeRedis, killClient, REDIS_URL, redisReachable, uniquePrefix } from '../redis.ts';
import { redisClusterUsable } from '../support/describe-redis.ts';
import { redisBackends, type RedisBackend } from '../support/redis-backend.ts';
import { expectClean, run } from './scenario.ts';

let prefix: string;
const apps: TestApp[] = [];
const targets = redisBackends(REDIS_URL, redisReachable, redisClusterUsable);
beforeEach(() => {
  prefix = uniquePrefix();
});
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});
afterAll(async () => {
  await targets.stop();
});

for (const { name, skip, get } of targets.cases) {
  describe.skipIf(skip)(`fault: an instance's Redis connections killed mid-stream, on ${name}`, () => {
    for (const role of ['broker', 'subscriber', 'presence']) {
      it(`loses nothing when its ${role} connection is killed`, async () => {
        const backend = await get();
        for (const id of ['A', 'B', 'C']) apps.push(await startApp(backend.config(prefix), { instanceId: id }));
        try {
          const { tallies, senders } = await run({
            name: `CLIENT KILL ${role} (${backend.kind})`,
            backends: apps.map((a) => ({ url: a.url, alive: true })),
            async fault() {
              expect(await backend.killClient(`${prefix}A:${role}`)).toBeGreaterThan(0);
            },
          });
          expectClean(tallies, expect);
          // Refusals during the blip are answered, never silent: nothing else but acks and unavailable.
          for (const s of senders.ws) expect([...s.errors.keys()].filter((c) => c !== 'unavailable')).toEqual([]);
        } finally {
          await Promise.all(apps.splice(0).map((a) => a.close()));
          await backend.deleteKeys(prefix);
        }
      });
    }
  });
}

// On a cluster the subscription comes back within milliseconds, too soon to publish in between:
// test/cluster.test.ts checks there that the clients are told the head.
describeRedis('fault: a subscription down on one Redis', () => {
  let admin: Redis;
  beforeEach(() => {
    admin = adminRedis();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    await deleteKeys(admin, prefix);
    await admin.quit();
  });

  it('tells the clients of an instance whose subscription was down where the log stands, so they get what was published meanwhile', async () => {
    const [A, B] = [await startApp({ redisUrl: REDIS_URL, redisPrefix: prefix }, { instanceId: 'A' }), await startApp({ redisUrl: REDIS_URL, redisPrefix: prefix }, { instanceId: 'B' })];
    apps.push(A, B);
    const got: Frame[] = [];
    const client = connect('/api/1/ws/hello-rooms/Quiet', { baseUrl: A.url, WebSocket, network: null, onError: () => {} });
    client.on('chat', (_data, frame) => got.push(frame));
    await new Promise<void>((resolve) => client.onStatusChange((s) => s === 'connected' && resolve()));
    try {
      const down = new Promise<void>((resolve) => A.rt.broker.onStateChange((s) => s === 'degraded' && resolve()));
      const restored = once(A.rt.channels, 'restored');
      expect(await killClient(admin, `${prefix}A:subscriber`)).toBe(1);
      await down;
      // Published while A's subscription is gone, and nothing after it to reveal a hole.
      const posted = await fetch(`${B.url}/api/1/rooms/Quiet/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'while away' }) });
      expect(posted.status).toBe(201);
      await restored;
      while (got.length === 0) await new Promise<void>((resolve) => client.on('chat', () => resolve()));
      expect(got.map((f) => [f.data && (f.data as { text: string }).text, f.replayed === true])).toEqual([['while away', true]]);
    } finally {
      client.close();
    }
  });
});
