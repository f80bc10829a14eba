/**
 * Two instances on one real Redis serving one map: edits from either reach both, the state read
 * from either is the same, and deleting the map through one closes its namespace on both.
 */
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { login, startApp, TestClient, type TestApp } from '../helpers.ts';
import { adminRedis, deleteKeys, describeRedis, REDIS_URL, uniquePrefix } from '../redis.ts';
import { startProxy } from '../proxy.ts';
import { call, createMap, joinMap, mapUrl } from './helpers.ts';

let prefix: string;
let admin: Redis;
let A: TestApp;
let B: TestApp;
const config = () => ({ redisUrl: REDIS_URL, redisPrefix: prefix, unsubscribeDelayMs: 0, userRoles: { eve: ['editor'] } });

beforeEach(async () => {
  prefix = uniquePrefix();
  admin = adminRedis();
  [A, B] = (await Promise.all(['A', 'B'].map((id) => startApp(config(), { instanceId: id })))) as [TestApp, TestApp];
});
afterEach(async () => {
  await Promise.all([A.close(), B.close()]);
  await deleteKeys(admin, prefix);
  await admin.quit();
});

describeRedis('bubble map on two instances', () => {
  it('shares one map: edits made on either instance reach the clients of both, and both serve the same state', async () => {
    expect(A.mapStore.kind).toBe('redis');
    // The session cookie is signed with the shared secret: valid on both instances.
    const [ada, eve] = [await login(A, 'ada'), await login(B, 'eve')];
    const mapId = await createMap(A, ada);
    const a = await joinMap(A, mapId, ada);
    const e = await joinMap(B, mapId, eve);

    const { data: created } = await a.request('bubble-create', { x: 10, y: 20, text: 'from A' });
    expect((await e.next('bubble-created')).data).toMatchObject({ username: 'ada', bubble: { id: created.id, text: 'from A' } });
    // eve is an editor: her change on B to ada's bubble is allowed, and seen on A.
    await e.request('bubble-update', { id: created.id, updates: { text: 'edited on B' } });
    expect((await a.next('bubble-updated')).data).toMatchObject({ username: 'eve', bubble: { text: 'edited on B' } });
    await e.request('bubble-create', { x: 30, y: 40, text: 'from B' });
    await a.next('bubble-created');

    const [fromA, fromB] = await Promise.all([A, B].map(async (app) => (await call(app, 'GET', `/api/1/bubblemap/${mapId}`, ada)).json));
    expect(fromA).toEqual(fromB);
    expect(fromA.version).toBe(3);
    expect(fromA.bubbles.map((b: any) => b.text)).toEqual(['edited on B', 'from B']);
  });

  it('interleaved writers on both instances get distinct versions, and every client sees every change once', async () => {
    const ada = await login(A, 'ada');
    const mapId = await createMap(A, ada);
    const a = await joinMap(A, mapId, ada);
    const b = await joinMap(B, mapId, ada);
    // `send`, not `request`: concurrent requests on one test client would read each other's replies.
    for (let i = 0; i < 20; i++) (i % 2 ? a : b).send({ type: 'bubble-create', data: { x: i, y: i, text: `n${i}` }, id: `c${i}` });
    const count = (client: TestClient, type: string) => client.frames.filter((f) => f.type === type).length;
    for (const client of [a, b]) {
      while (count(client, 'bubble-created') < 20 || count(client, 'ack') < 10) await client.next();
    }
    const acks = [...a.frames, ...b.frames].filter((f) => f.type === 'ack');
    expect(new Set(acks.map((f) => f.data.version)).size).toBe(20);
    for (const client of [a, b]) {
      const versions = client.frames.filter((f) => f.type === 'bubble-created').map((f) => f.data.version as number);
      expect(versions.sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    }
  });

  it('deleting a map through one instance closes its namespace with 4410 on both, and neither takes it back', async () => {
    const ada = await login(A, 'ada');
    const mapId = await createMap(A, ada);
    const path = `/api/1/ws/bubblemap/${mapId}`;
    const onA = await joinMap(A, mapId, ada);
    const onB = await joinMap(B, mapId, ada);
    expect([A.rt.registry.has(path), B.rt.registry.has(path)]).toEqual([true, true]);

    expect((await call(A, 'DELETE', `/api/1/bubblemap/${mapId}`, ada)).status).toBe(204);
    expect((await onA.closed).code).toBe(4410);
    expect((await onB.closed).code).toBe(4410);
    expect([A.rt.registry.has(path), B.rt.registry.has(path)]).toEqual([false, false]);
    for (const app of [A, B]) {
      expect((await (await TestClient.open(mapUrl(app, mapId), { cookie: ada })).closed).code).toBe(4404);
      expect((await call(app, 'GET', `/api/1/bubblemap/${mapId}`, ada)).status).toBe(404);
    }
  });

  it('while Redis is away, answers changes with unavailable (connection kept), REST with 503, and connects with a retryable 503', async () => {
    const proxy = await startProxy(REDIS_URL);
    const C = await startApp({ ...config(), redisUrl: proxy.url }, { instanceId: 'C' });
    try {
      const ada = await login(C, 'ada');
      const mapId = await createMap(C, ada);
      const a = await joinMap(C, mapId, ada);
      const down = new Promise<void>((resolve) => C.rt.broker.onStateChange((s) => s === 'degraded' && resolve()));
      proxy.cut();
      await down;

      expect((await a.request('bubble-create', { x: 1, y: 1, text: 'lost?' })).data).toEqual({ code: 'unavailable', error: 'the map store is unavailable; try again' });
      expect((await call(C, 'GET', `/api/1/bubblemap/${mapId}`, ada)).status).toBe(503);
      await expect(TestClient.open(mapUrl(C, mapId), { cookie: ada })).rejects.toMatchObject({ status: 503 });
      expect(a.socket.readyState).toBe(a.socket.OPEN);
    } finally {
      await C.close();
      await proxy.close();
    }
  });
});
