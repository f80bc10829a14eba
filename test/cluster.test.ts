/**
 * Instances on a Redis Cluster (3 masters, `cluster-require-full-coverage no`), in one process:
 * each namespace in one slot, its channel a shard channel on the master that owns that slot.
 * Fan-out over namespaces on every master, where the keys and channels live, a node's subscriber
 * connection lost, and (last: it damages the cluster) a master lost without a replica.
 */
import calculateSlot from 'cluster-key-slot';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Config } from '../src/config.ts';
import { channelsDid, startApp, TestClient, type Frame, type TestApp } from './helpers.ts';
import { uniquePrefix } from './redis.ts';
import { describeRedisCluster } from './support/describe-redis.ts';
import { clusterBackend, type ClusterBackend } from './support/redis-backend.ts';
import { startRedisCluster } from './support/redis-cluster.ts';

let backend: ClusterBackend;
let prefix: string;
const apps: TestApp[] = [];

beforeAll(async () => {
  backend = clusterBackend(await startRedisCluster({ requireFullCoverage: false }));
});
afterAll(async () => {
  await backend?.cluster.stop();
});
beforeEach(() => {
  prefix = uniquePrefix();
});
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
  await backend.deleteKeys(prefix);
});

async function instances(...ids: string[]): Promise<TestApp[]> {
  const started = await Promise.all(ids.map((id) => startApp({ ...backend.config(prefix), unsubscribeDelayMs: 0 } satisfies Partial<Config>, { instanceId: id })));
  apps.push(...started);
  return started;
}

const path = (room: string) => `/api/1/ws/hello-rooms/${room}`;
/** The port of the master that serves a namespace (its hash tag is its path). */
const masterOf = (room: string) => backend.cluster.nodeForSlot(calculateSlot(`{${path(room)}}`)).port;
const chats = (client: TestClient) => client.frames.filter((f) => f.type === 'chat');

/** `count` room names spread as evenly as names fall over the masters: each master serves some. */
function roomsOverMasters(count: number): Map<string, number> {
  const perMaster = new Map<number, string[]>(backend.cluster.masters.map((m) => [m.port, []]));
  for (let i = 0; [...perMaster.values()].some((rooms) => rooms.length < Math.ceil(count / perMaster.size)); i++) {
    const room = `Spread${i}`;
    perMaster.get(masterOf(room))!.push(room);
  }
  const rooms = new Map<string, number>();
  for (let i = 0; rooms.size < count; i++) for (const [port, names] of perMaster) if (names[i] && rooms.size < count) rooms.set(names[i]!, port);
  return rooms;
}

async function nextChats(client: TestClient, n: number): Promise<Frame[]> {
  const out: Frame[] = [];
  while (out.length < n) out.push(await client.next('chat'));
  return out;
}

function post(app: TestApp, room: string, text: string): Promise<Response> {
  return fetch(`${app.url}/api/1/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
}

/** Polls `/ready` until it answers `status` (readiness follows connection events no test can await). */
async function readyBecomes(app: TestApp, status: number): Promise<{ reasons?: string[] }> {
  for (;;) {
    const res = await fetch(`${app.url}/ready`);
    if (res.status === status) return (await res.json()) as { reasons?: string[] };
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describeRedisCluster('instances on a Redis Cluster', { timeout: 60_000 }, () => {
  it('fans out 20 namespaces over every master through 3 instances: once, in one order per namespace; keys and channels on the masters that own them', async () => {
    const [A, B, C] = await instances('A', 'B', 'C');
    const rooms = roomsOverMasters(20);
    expect(new Set(rooms.values()).size).toBe(3);
    const clients = new Map<string, TestClient[]>();
    await Promise.all([...rooms.keys()].map(async (room) => clients.set(room, await Promise.all([A!, B!, C!].map((app) => TestClient.connect(app.wsUrl(path(room))))))));

    const perClient = 4;
    for (const [room, list] of clients) list.forEach((client, i) => {
      for (let k = 0; k < perClient; k++) client.send({ type: 'chat', data: { text: `${room} ${i}-${k}` } });
    });
    for (const [room, list] of clients) {
      const seen = await Promise.all(list.map(async (client) => (await nextChats(client, 3 * perClient)).map((f) => f.data as { id: string; text: string })));
      expect(new Set(seen[0]!.map((m) => m.id)).size).toBe(3 * perClient);
      expect(seen[0]!.every((m) => m.text.startsWith(`${room} `))).toBe(true);
      expect(seen[1]).toEqual(seen[0]);
      expect(seen[2]).toEqual(seen[0]);
    }
    // Nothing more came: no copy, nothing from another namespace.
    await Promise.all([...clients.values()].flat().map((c) => c.request('chat', { text: 'marker' })));
    for (const client of [...clients.values()].flat()) expect(chats(client).filter((f) => f.data.text !== 'marker')).toHaveLength(3 * perClient);

    // Every key of a namespace is on the master owning its slot, and every master holds some.
    const keys = await backend.keys(prefix);
    expect([...keys.keys()].sort()).toEqual(backend.cluster.masters.map((m) => m.port).sort());
    for (const [port, list] of keys) {
      expect(list.length).toBeGreaterThan(0);
      for (const key of list) {
        const tag = /\{([^}]*)\}/.exec(key)?.[1];
        if (tag) expect({ key, port: backend.cluster.nodeForSlot(calculateSlot(key)).port }).toEqual({ key, port });
      }
    }

    // Each master holds the shard channels of the hosted namespaces it owns, and no others.
    const channelsOn = (hosted: string[]) =>
      new Map(backend.cluster.masters.map((m) => [m.port, hosted.filter((r) => rooms.get(r) === m.port).map((r) => `${prefix}{${path(r)}}:ch`).sort()]));
    expect(await backend.shardChannels(prefix)).toEqual(channelsOn([...rooms.keys()]));
    const dropped = [...rooms.keys()].filter((_, i) => i % 2 === 0);
    const gone = Promise.all([A!, B!, C!].map((app) => channelsDid(app, 'unsubscribed', dropped.map(path))));
    await Promise.all(dropped.flatMap((room) => clients.get(room)!.map((c) => c.close())));
    await gone;
    expect(await backend.shardChannels(prefix)).toEqual(channelsOn([...rooms.keys()].filter((r) => !dropped.includes(r))));
  });

  it('says on /health that it runs on a cluster, and how many nodes its client sees', async () => {
    const [A] = await instances('A');
    expect(await (await fetch(`${A!.url}/health`)).json()).toMatchObject({ status: 'ok', mode: 'cluster', nodes: { masters: 3, replicas: 0 }, broker: 'ok', presence: 'ok' });
    expect((await fetch(`${A!.url}/ready`)).status).toBe(200);
  });

  it("resubscribes the namespaces of a node whose subscriber connection died, and tells their clients where the log stands; other namespaces are left alone", async () => {
    const [A, B] = await instances('A', 'B');
    const rooms = roomsOverMasters(3);
    const onA = new Map(await Promise.all([...rooms.keys()].map(async (room) => [room, await TestClient.connect(A!.wsUrl(path(room)))] as const)));
    for (const [room, client] of onA) {
      expect((await post(B!, room, 'before')).status).toBe(201);
      expect((await client.next('chat')).data.text).toBe('before');
    }
    const [victimRoom, victim] = [...rooms][0]!;
    const restored: string[] = [];
    A!.rt.channels.on('restored', (p) => restored.push(p));

    expect(await backend.killClient(`ioredis-cluster(ssubscriber):${prefix}A:subscriber`, victim)).toBe(1);
    // Its clients are told the head: a client that missed a broadcast meanwhile syncs over it.
    const head = await onA.get(victimRoom)!.next('head');
    expect(head.data).toMatchObject({ seq: 1, epoch: expect.any(String) });
    expect(restored).toEqual([path(victimRoom)]);

    for (const [room, client] of onA) {
      expect((await post(B!, room, 'after')).status).toBe(201);
      expect((await client.next('chat')).data.text).toBe('after');
      expect(chats(client).map((f) => f.data.text)).toEqual(['before', 'after']);
      expect(client.frames.filter((f) => f.type === 'head')).toHaveLength(room === victimRoom ? 1 : 0);
    }
    expect(restored).toEqual([path(victimRoom)]);
  });

  // Last: the master comes back, but emptied (the nodes keep no data).
  it('a master lost without a replica: its namespaces answer retryable errors, /ready says which, the others carry on; all is well once it is back', async () => {
    const [A, B] = await instances('A', 'B');
    const rooms = [...roomsOverMasters(3)];
    const [[dead, victim], [alive]] = rooms as [[string, number], [string, number]];
    const [a1, a2, b1, b2] = await Promise.all([TestClient.connect(A!.wsUrl(path(dead))), TestClient.connect(A!.wsUrl(path(alive))), TestClient.connect(B!.wsUrl(path(dead))), TestClient.connect(B!.wsUrl(path(alive)))]);

    await backend.cluster.kill(victim);
    expect((await a1!.request('chat', { text: 'lost?' })).data).toMatchObject({ code: 'unavailable' });
    const refused = await post(B!, dead, 'lost?');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect((await fetch(`${A!.url}/api/1/rooms/${dead}`)).status).toBe(503);

    expect((await a2!.request('chat', { text: 'alive' })).type).toBe('ack');
    expect((await b2!.next('chat')).data.text).toBe('alive');
    expect((await post(B!, alive, 'alive too')).status).toBe(201);
    await a2!.seen((f) => f.type === 'chat' && f.data.text === 'alive too');

    const { reasons } = await readyBecomes(A!, 503);
    expect(reasons).toContain(`broker channels of 1 hosted namespace (${path(dead)}) unreachable`);
    expect([a1, a2, b1, b2].map((c) => c!.socket.readyState)).toEqual([1, 1, 1, 1]);

    await backend.cluster.revive(victim);
    await readyBecomes(A!, 200);
    await readyBecomes(B!, 200);
    expect((await a1!.next('head')).data).toEqual({ seq: 0, epoch: '' });
    expect((await a1!.request('chat', { text: 'back' })).type).toBe('ack');
    await b1!.seen((f) => f.type === 'chat' && f.data.text === 'back');
    expect(chats(b1!).map((f) => f.data.text)).toEqual(['back']);
  });
});
