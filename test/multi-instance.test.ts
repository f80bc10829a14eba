/**
 * Several app instances in one process, each on its own port with its own Redis connections, on
 * one real Redis with a key prefix of their own, and on a local Redis Cluster: what users of a
 * load-balanced deployment see. The same suite runs on both.
 */
import { once } from 'node:events';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../src/config.ts';
import type { RedisBroker } from '../src/ws/broker/redis.ts';
import type { Broker, BrokerState } from '../src/ws/broker/types.ts';
import type { RedisPresence } from '../src/ws/presence/redis.ts';
import { channelsDid, login, startApp, TestClient, type Frame, type TestApp } from './helpers.ts';
import { startProxy } from './proxy.ts';
import { REDIS_URL, redisReachable, uniquePrefix } from './redis.ts';
import { redisClusterUsable } from './support/describe-redis.ts';
import { redisBackends, type RedisBackend } from './support/redis-backend.ts';

const targets = redisBackends(REDIS_URL, redisReachable, redisClusterUsable);
afterAll(async () => {
  await targets.stop();
});

const path = (room: string) => `/api/1/ws/hello-rooms/${room}`;
const join = (app: TestApp, room: string, headers: Record<string, string> = {}) => TestClient.connect(app.wsUrl(path(room)), headers);
const chats = (client: TestClient) => client.frames.filter((f) => f.type === 'chat').map((f) => f.data.text as string);

async function nextChats(client: TestClient, n: number): Promise<Frame[]> {
  const out: Frame[] = [];
  while (out.length < n) out.push(await client.next('chat'));
  return out;
}

function post(app: TestApp, room: string, text: string): Promise<Response> {
  return fetch(`${app.url}/api/1/rooms/${room}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
}

async function getJson(app: TestApp, url: string, headers: Record<string, string> = {}): Promise<any> {
  return (await fetch(`${app.url}${url}`, { headers })).json();
}

/** Resolves when the broker reports `state` (listening from now on). */
function stateBecomes(broker: Broker, state: BrokerState): Promise<void> {
  return new Promise((resolve) => broker.onStateChange((s) => s === state && resolve()));
}

/** The Redis channel of a namespace path (the broker's naming). */
const channelOf = (app: TestApp, p: string) => (app.rt.broker as RedisBroker).channelOf(p);

for (const { name, skip, get } of targets.cases) {
  describe.skipIf(skip)(`several instances on ${name}`, () => {
    let backend: RedisBackend;
    let prefix: string;
    let apps: TestApp[] = [];

    beforeEach(async () => {
      backend = await get();
      prefix = uniquePrefix();
    });
    afterEach(async () => {
      await Promise.all(apps.splice(0).map((a) => a.close()));
      await backend.deleteKeys(prefix);
    });

    async function instance(id: string, overrides: Partial<Config> = {}): Promise<TestApp> {
      const app = await startApp({ ...backend.config(prefix), unsubscribeDelayMs: 0, ...overrides }, { instanceId: id });
      apps.push(app);
      return app;
    }

    it('delivers a broadcast exactly once to every client of the namespace on every instance, and nowhere else', async () => {
      const [A, B, C] = await Promise.all(['A', 'B', 'C'].map((id) => instance(id)));
      const a = await join(A!, 'Berlin');
      const b = await join(B!, 'Berlin');
      const c = await join(C!, 'Cairo');

      // `send`, not `request`: reading up to the ack would step over a chat that came first.
      a.send({ type: 'chat', data: { text: 'hallo' } });
      a.send({ type: 'chat', data: { text: 'marker' } });
      await nextChats(a, 2);
      await nextChats(b, 2);
      expect(chats(a)).toEqual(['hallo', 'marker']);
      expect(chats(b)).toEqual(['hallo', 'marker']);

      // Another room on an instance that also hosts Berlin sees nothing of Berlin either.
      const c2 = await join(A!, 'Cairo');
      await c.request('chat', { text: 'cairo' });
      await c.seen((f) => f.type === 'chat');
      await c2.next('chat');
      expect(chats(c)).toEqual(['cairo']);
      expect(chats(c2)).toEqual(['cairo']);
    });

    it('delivers in the same order on all instances under concurrent broadcasters', async () => {
      const [A, B, C] = await Promise.all(['A', 'B', 'C'].map((id) => instance(id)));
      const clients = [await join(A!, 'Order'), await join(B!, 'Order'), await join(C!, 'Order')];
      const perClient = 30;
      clients.forEach((client, i) => {
        for (let k = 0; k < perClient; k++) client.send({ type: 'chat', data: { text: `${i}-${k}` } });
      });
      const seen = await Promise.all(clients.map(async (client) => (await nextChats(client, 3 * perClient)).map((f) => f.data.id)));
      expect(new Set(seen[0]).size).toBe(3 * perClient);
      expect(seen[1]).toEqual(seen[0]);
      expect(seen[2]).toEqual(seen[0]);
    });

    it('delivers a REST post on instance A to sockets on instance B', async () => {
      const [A, B] = await Promise.all([instance('A'), instance('B')]);
      const b = await join(B, 'Berlin');
      const other = await join(B, 'Cairo');
      expect((await post(A, 'Berlin', 'from rest')).status).toBe(201);
      expect((await b.next('chat')).data).toMatchObject({ username: '(guest)', text: 'from rest' });
      await post(A, 'Cairo', 'marker');
      await other.next('chat');
      expect(chats(other)).toEqual(['marker']);
    });

    it('lets B drop the namespace while A keeps broadcasting; a new client on B gets the next messages', async () => {
      const [A, B] = await Promise.all([instance('A'), instance('B')]);
      const a = await join(A, 'Berlin');
      const gone = await join(B, 'Berlin');
      let sent = 0;
      let stop = false;
      const broadcasting = (async () => {
        while (!stop) expect((await post(A, 'Berlin', `tick ${sent++}`)).status).toBe(201);
      })();

      const unsubscribed = once(B.rt.channels, 'unsubscribed');
      await gone.close();
      await unsubscribed;
      expect(B.rt.registry.has(path('Berlin'))).toBe(false);

      const fresh = await join(B, 'Berlin');
      // Forced removal too: the client is told the namespace is gone, the next one is served.
      const forced = await join(B, 'Berlin');
      void fresh.close();
      B.rt.removeNamespace(path('Berlin'), { removeIfEmpty: false });
      expect((await forced.closed).code).toBe(4410);
      const last = await join(B, 'Berlin');
      stop = true;
      await broadcasting;
      expect((await post(A, 'Berlin', 'after')).status).toBe(201);
      // Ticks still in flight when it joined come first, in order; then 'after'.
      const got: string[] = [];
      while (got.at(-1) !== 'after') got.push((await last.next('chat')).data.text);
      const ticks = got.slice(0, -1).map((t) => Number(t.split(' ')[1]));
      expect(ticks).toEqual([...ticks].sort((x, y) => x - y));
      expect(a.socket.readyState).toBe(a.socket.OPEN);
    });

    it('subscribes only to channels of namespaces the instance hosts (PUBSUB SHARDCHANNELS)', async () => {
      const [A, B] = await Promise.all([instance('A'), instance('B')]);
      const berlin = channelOf(A, path('Berlin'));
      const cairo = channelOf(A, path('Cairo'));
      await join(A, 'Berlin');
      const c = await join(B, 'Cairo');
      const channels = async () => [...(await backend.shardChannels(prefix)).values()].flat().sort();
      expect(await channels()).toEqual([berlin, cairo].sort());
      expect([await backend.subscribers(berlin), await backend.subscribers(cairo)]).toEqual([1, 1]);

      const unsubscribed = once(B.rt.channels, 'unsubscribed');
      await c.close();
      await unsubscribed;
      expect(await channels()).toEqual([berlin]);
    });

    it('keeps the subscription through churn: a client leaving and another joining does not resubscribe', async () => {
      const A = await instance('A', { unsubscribeDelayMs: 60_000 });
      const events: string[] = [];
      A.rt.channels.on('subscribed', () => events.push('subscribed'));
      A.rt.channels.on('unsubscribed', () => events.push('unsubscribed'));
      const first = await join(A, 'Berlin');
      const deleted = once(A.rt.registry, 'delete');
      await first.close();
      await deleted;
      const channel = channelOf(A, path('Berlin'));
      expect(await backend.subscribers(channel)).toBe(1);
      const second = await join(A, 'Berlin');
      expect((await second.request('chat', { text: 'still here' })).type).toBe('ack');
      await second.seen((f) => f.type === 'chat' && f.data.text === 'still here');
      expect(events).toEqual(['subscribed']);
    });

    it('resumes delivery after its Redis connections are killed (CLIENT KILL)', async () => {
      const [A, B] = await Promise.all([instance('A'), instance('B')]);
      const a = await join(A, 'Berlin');
      const b = await join(B, 'Berlin');
      // On a cluster the broker's command connections come back at the next command, with no
      // sign to await (the fault suite kills them under traffic).
      for (const role of backend.kind === 'redis' ? ['subscriber', 'broker'] : ['subscriber']) {
        const resubscribed = once(A.rt.channels, 'subscribed');
        expect(await backend.killClient(`${prefix}A:${role}`)).toBeGreaterThan(0);
        await resubscribed;
        await b.request('chat', { text: `to A after ${role} kill` });
        await a.seen((f) => f.type === 'chat' && f.data.text === `to A after ${role} kill`);
        await a.request('chat', { text: `from A after ${role} kill` });
        await b.seen((f) => f.type === 'chat' && f.data.text === `from A after ${role} kill`);
      }
      expect(chats(a)).toEqual(chats(b));
      expect(A.rt.broker.state()).toBe('ok');
    });

    // A cluster's nodes are found through CLUSTER SLOTS, past any proxy: test/cluster.test.ts kills one instead.
    it.skipIf(name !== 'one Redis')('serves local clients during a Redis outage, says so, and carries on after it', async () => {
      const proxy = await startProxy(REDIS_URL);
      try {
        const A = await instance('A', { redisUrl: proxy.url });
        const B = await instance('B');
        const a1 = await join(A, 'Berlin');
        const a2 = await join(A, 'Berlin');
        const b = await join(B, 'Berlin');
        // Both joined notices (a2's, b's) have gone through before Redis goes away.
        await a1.next('joined');
        await a1.next('joined');

        const down = stateBecomes(A.rt.broker, 'degraded');
        proxy.cut();
        await down;
        expect(await getJson(A, '/health')).toMatchObject({ status: 'degraded', broker: 'degraded' });
        // The rooms replay: a chat that cannot be kept and given its seq is refused, not delivered
        // to some clients only (a broadcast without seq would be a hole nobody could replay).
        expect((await a1.request('chat', { text: 'during' })).data.code).toBe('unavailable');
        // So is a REST post (retryable), and the room's REST state (its log lives in Redis); presence is partial.
        const refused = await post(A, 'Berlin', 'during');
        expect(refused.status).toBe(503);
        expect(refused.headers.get('retry-after')).toBe('1');
        expect((await fetch(`${A.url}/api/1/rooms/Berlin`)).status).toBe(503);
        const presence = await A.rt.presence.members(path('Berlin'));
        expect(presence.partial).toBe(true);
        expect(presence.members).toHaveLength(2);
        expect((await getJson(A, '/api/1/ws/stats')).broker).toMatchObject({ state: 'degraded', refused: 2 });
        // A namespace created during the outage is served locally (welcome not held back).
        const late = await join(A, 'Late');
        expect(A.rt.channels.isSubscribed(path('Late'))).toBe(false);

        const resubscribed = channelsDid(A, 'subscribed', [path('Berlin'), path('Late')]);
        proxy.restore();
        await resubscribed;
        // Presence and the map store have their own connections, which come back on their own schedule.
        await Promise.all([(A.rt.presence as RedisPresence).ready(), (A.rt.broker as RedisBroker).ready()]);
        expect(await getJson(A, '/health')).toMatchObject({ broker: 'ok', presence: 'ok' });
        a1.send({ type: 'chat', data: { text: 'after' } });
        expect((await b.next('chat')).data.text).toBe('after');
        expect((await a2.next('chat')).data.text).toBe('after');
        expect(chats(b)).toEqual(['after']);
        expect(chats(a2)).toEqual(['after']);
        await post(B, 'Late', 'from B');
        expect((await late.next('chat')).data.text).toBe('from B');
      } finally {
        await proxy.close();
      }
    });

    it('shows presence across instances in REST, stats and joined/left notices', async () => {
      const [A, B, C] = await Promise.all(['A', 'B', 'C'].map((id) => instance(id)));
      const alice = await join(A!, 'Berlin', { cookie: await login(A!, 'alice') });
      const bob = await join(B!, 'Berlin', { cookie: await login(B!, 'bob') });
      expect((await alice.next('joined')).data).toMatchObject({ username: 'bob', count: 2 });

      // Members are listed to signed-in users (guests get the count).
      const carol = { cookie: await login(C!, 'carol') };
      const room = await getJson(C!, '/api/1/rooms/Berlin', carol);
      expect(room.count).toBe(2);
      expect(room.members.map((m: { username: string }) => m.username).sort()).toEqual(['alice', 'bob']);
      expect(room.members.find((m: { username: string }) => m.username === 'bob')).toEqual({ clientId: bob.welcome.data.clientId, username: 'bob' });
      const zurich = await join(B!, 'Zurich');
      expect((await getJson(A!, '/api/1/rooms')).rooms).toEqual(
        expect.arrayContaining([
          { name: 'Berlin', members: 2 },
          { name: 'Cairo', members: 0 },
          { name: 'Zurich', members: 1 },
        ]),
      );
      // The namespace is dropped after presence forgot its last member.
      const dropped = once(B!.rt.registry, 'delete');
      await zurich.close();
      await dropped;
      expect((await getJson(A!, '/api/1/rooms')).rooms.map((r: { name: string }) => r.name)).not.toContain('Zurich');
      const stats = await getJson(A!, '/api/1/ws/stats');
      expect(stats.list.find((ns: { path: string }) => ns.path === path('Berlin'))).toMatchObject({ clients: 1, members: 2 });
      expect(stats.presence).toEqual({ kind: 'redis', state: 'ok' });

      await bob.close();
      expect((await alice.next('left')).data).toMatchObject({ username: 'bob', count: 1 });
      expect((await getJson(C!, '/api/1/rooms/Berlin', carol)).members.map((m: { username: string }) => m.username)).toEqual(['alice']);
    });

    it('removeNamespaceEverywhere closes the namespace with 4410 on every instance hosting it, and nothing else', async () => {
      const [A, B, C] = await Promise.all(['A', 'B', 'C'].map((id) => instance(id)));
      const [a, b, c] = await Promise.all([join(A!, 'Berlin'), join(B!, 'Berlin'), join(C!, 'Cairo')]);
      await A!.rt.removeNamespaceEverywhere(path('Berlin'));
      expect((await a.closed).code).toBe(4410);
      expect((await b.closed).code).toBe(4410);
      expect([A!, B!].map((app) => app.rt.registry.has(path('Berlin')))).toEqual([false, false]);
      expect((await c.request('chat', { text: 'still here' })).type).toBe('ack');
    });
  });
}
