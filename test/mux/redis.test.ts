/** A multiplexed socket on one instance of several on Redis: the same namespaces, on every instance. */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startApp, TestClient, type TestApp } from '../helpers.ts';
import { adminRedis, deleteKeys, describeRedis, REDIS_URL, uniquePrefix } from '../redis.ts';
import { openMux, requestOn, subscribe, takeOf } from './helpers.ts';

const room = (name: string) => `/api/1/ws/hello-rooms/${name}`;

describeRedis('a multiplexed socket over two instances on Redis', () => {
  let prefix: string;
  let apps: TestApp[] = [];

  beforeEach(() => {
    prefix = uniquePrefix();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    const admin = adminRedis();
    await deleteKeys(admin, prefix);
    admin.disconnect();
  });

  async function instance(id: string): Promise<TestApp> {
    const a = await startApp({ redisUrl: REDIS_URL, redisPrefix: prefix, unsubscribeDelayMs: 0 }, { instanceId: id });
    apps.push(a);
    return a;
  }

  it('gets broadcasts from instance B on a subscription on A, tagged; its chats and presence reach B', async () => {
    const [A, B] = [await instance('A'), await instance('B')];
    const mux = await openMux(A);
    await subscribe(mux, room('Berlin'));
    await subscribe(mux, room('Cairo'));
    const onB = await TestClient.connect(B.wsUrl(room('Berlin')));

    await onB.request('chat', { text: 'from B' });
    expect(await takeOf(mux, room('Berlin'), 'chat')).toMatchObject({ seq: 1, data: { text: 'from B' }, path: room('Berlin') });

    expect((await requestOn(mux, room('Berlin'), 'chat', { text: 'from A' })).type).toBe('ack');
    expect((await onB.seen((f) => f.type === 'chat' && f.data.text === 'from A')).seq).toBe(2);
    // Presence counts the subscription on every instance, like a direct socket.
    const state = await (await fetch(`${B.url}/api/1/rooms/Berlin`)).json();
    expect(state.count).toBe(2);

    // A sync of the subscription replays what B's socket sent, from the shared log.
    mux.send({ type: 'sync', data: { since: 0, epoch: '' }, id: 's', path: room('Berlin') });
    expect(await mux.take((f) => f.id === 's')).toMatchObject({ type: 'synced', data: { seq: 2 }, path: room('Berlin') });
    const replayed = mux.frames.filter((f) => f.replayed);
    expect(replayed.map((f) => [f.path, f.seq, f.data.text])).toEqual([
      [room('Berlin'), 1, 'from B'],
      [room('Berlin'), 2, 'from A'],
    ]);
  });

  it('ends the subscription on A with 4410 when B removes the namespace everywhere', async () => {
    const [A, B] = [await instance('A'), await instance('B')];
    const mux = await openMux(A);
    await subscribe(mux, room('Berlin'));
    await subscribe(mux, room('Cairo'));
    await TestClient.connect(B.wsUrl(room('Berlin')));
    await B.rt.removeNamespaceEverywhere(room('Berlin'));
    expect(await takeOf(mux, room('Berlin'), 'unsubscribed')).toMatchObject({ data: { code: 4410 } });
    expect((await requestOn(mux, room('Cairo'), 'chat', { text: 'still' })).type).toBe('ack');
  });
});
