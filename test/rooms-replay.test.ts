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
    const other = await TestClient.connect(app.wsUrl('/api/1/ws/hello-rooms/Berlin'));
    // The room had no log yet: an empty head. Joins are volatile: they take no seq.
    expect(c.welcome.data.replay).toEqual({ seq: 0, epoch: '' });
    expect(await room(app, 'Berlin')).toMatchObject({ seq: 0, epoch: '', messages: [] });
    await c.request('chat', { text: 'one' });
    const chat = await other.next('chat');
    expect(c.frames.find((f) => f.type === 'joined')?.seq).toBeUndefined();
    const state = await room(app, 'Berlin');
    expect(state).toMatchObject({ seq: 1, epoch: chat.epoch });
    expect(chat.seq).toBe(1);
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
      // The ack and the chat's own copy come on different Redis connections: either may be first.
      while (a.frames.filter((f) => f.type === 'chat').length < 2) await a.next('chat');
      const got = a.frames.filter((f) => f.type === 'chat');
      expect(got.map((f) => [f.seq, f.data.text])).toEqual([[1, 'from A'], [2, 'posted on B']]);
      const [onA, onB] = [await room(A, 'Berlin'), await room(B, 'Berlin')];
      expect(onB.messages.map((m: { text: string }) => m.text)).toEqual(['from A', 'posted on B']);
      expect(onB).toMatchObject({ seq: 2, epoch: got[0]!.epoch });
      expect(onA).toEqual(onB);
    } finally {
      await Promise.all(apps.splice(0).map((a) => a.close()));
      await deleteKeys(admin, prefix);
      await admin.quit();
    }
  });
});
