/**
 * Dynamic Rooms with replay: the REST resync reports the room's seq, and with Redis every
 * instance's resync sees the messages accepted by any other.
 */
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startApp, TestClient, type TestApp } from './helpers.ts';
import { adminRedis, deleteKeys, describeRedis, REDIS_URL, uniquePrefix } from './redis.ts';

const apps: TestApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function room(app: TestApp, name: string): Promise<any> {
  return (await fetch(`${app.url}/api/1/rooms/${name}`)).json();
}

describe('rooms resync (one instance)', () => {
  it('reports the seq and epoch its state is at', async () => {
    const app = await startApp();
    apps.push(app);
    const c = await TestClient.connect(app.wsUrl('/api/1/ws/hello-rooms/Berlin'));
    await c.request('chat', { text: 'one' });
    const state = await room(app, 'Berlin');
    // joined (seq 1, a skip for the joiner itself) then the chat.
    expect(state).toMatchObject({ seq: 2, epoch: c.welcome.data.replay.epoch });
    expect(state.messages.map((m: { text: string }) => m.text)).toEqual(['one']);
  });
});

describeRedis('rooms resync (several instances on Redis)', () => {
  it('sees on B the messages accepted on A, at one seq', async () => {
    const prefix = uniquePrefix();
    const admin: Redis = adminRedis();
    try {
      for (const id of ['A', 'B']) apps.push(await startApp({ redisUrl: REDIS_URL, redisPrefix: prefix }, { instanceId: id }));
      const [A, B] = apps as [TestApp, TestApp];
      const a = await TestClient.connect(A.wsUrl('/api/1/ws/hello-rooms/Berlin'));
      await a.request('chat', { text: 'from A' });
      const res = await fetch(`${B.url}/api/1/rooms/Berlin/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'posted on B' }),
      });
      expect(res.status).toBe(201);
      expect((await a.next('chat')).data.text).toBe('from A');
      expect((await a.next('chat')).data.text).toBe('posted on B');
      const [onA, onB] = [await room(A, 'Berlin'), await room(B, 'Berlin')];
      expect(onB.messages.map((m: { text: string }) => m.text)).toEqual(['from A', 'posted on B']);
      expect(onB).toMatchObject({ seq: 3, epoch: a.welcome.data.replay.epoch });
      expect(onA).toEqual(onB);
    } finally {
      await Promise.all(apps.splice(0).map((a) => a.close()));
      await deleteKeys(admin, prefix);
      await admin.quit();
    }
  });
});
