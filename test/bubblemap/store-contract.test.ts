/**
 * One contract for both map stores: bounds, versions, the check-and-write of a bubble change, and
 * concurrent writers (on Redis, through separate connections, as separate instances would be).
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryMapStore } from '../../src/routes/bubblemap/memory-store.ts';
import { RedisMapStore } from '../../src/routes/bubblemap/redis-store.ts';
import { StoreFullError, type Bubble, type MapInfo, type MapStore } from '../../src/routes/bubblemap/store.ts';
import { createLogger } from '../../src/log.ts';
import { adminRedis, deleteKeys, redisReachable, REDIS_URL, uniquePrefix } from '../redis.ts';
import { redisClusterUsable } from '../support/describe-redis.ts';
import { lazyCluster } from '../support/redis-backend.ts';
import type { RedisTarget } from '../../src/ws/redis-connection.ts';

const log = createLogger('silent');
const at = (n: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString();
const info = (id: string, n = 0): MapInfo => ({ id, title: `map ${id}`, requiredRoles: [], createdBy: 'ada', createdAt: at(n) });
const bubble = (id: string, createdBy = 'ada', n = 0): Bubble => ({ id, x: 1, y: 2, text: id, color: 'yellow', createdBy, createdAt: at(n), updatedAt: at(n) });
const anyone = () => true;

/** Makes a store; `twin` makes another on the same data (another instance's view, for Redis). */
interface Maker {
  make(maxBubbles: number, maxMaps: number): Promise<MapStore>;
  twin(store: MapStore): Promise<MapStore>;
}

function contract(name: string, maker: Maker, skip = false) {
  describe.skipIf(skip)(`${name} map store`, () => {
    const open: MapStore[] = [];
    const store = async (maxBubbles = 500, maxMaps = 100) => {
      const s = await maker.make(maxBubbles, maxMaps);
      open.push(s);
      return s;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

    it('creates, reads, lists newest first and deletes maps', async () => {
      const s = await store();
      expect(await s.createMap(info('mapA', 1))).toBe(true);
      expect(await s.createMap(info('mapA', 1))).toBe(false);
      expect(await s.createMap(info('mapB', 2))).toBe(true);
      expect(await s.getMap('mapA')).toEqual(info('mapA', 1));
      expect((await s.listMaps(10)).map((m) => m.id)).toEqual(['mapB', 'mapA']);
      expect(await s.state('mapA')).toEqual({ map: info('mapA', 1), bubbles: [], version: 0 });
      expect(await s.deleteMap('mapA')).toBe(true);
      expect(await s.deleteMap('mapA')).toBe(false);
      expect(await s.getMap('mapA')).toBeNull();
      expect(await s.state('mapA')).toBeNull();
      expect((await s.listMaps(10)).map((m) => m.id)).toEqual(['mapB']);
    });

    it('bounds maps and bubbles per map', async () => {
      const s = await store(2, 1);
      await s.createMap(info('mapA'));
      await expect(s.createMap(info('mapB'))).rejects.toBeInstanceOf(StoreFullError);
      expect((await s.createBubble('mapA', bubble('b1'))).ok).toBe(true);
      expect((await s.createBubble('mapA', bubble('b2'))).ok).toBe(true);
      expect(await s.createBubble('mapA', bubble('b3'))).toEqual({ ok: false, reason: 'full' });
      expect(await s.createBubble('nomap', bubble('b1'))).toEqual({ ok: false, reason: 'no_map' });
    });

    it('changes a bubble only when allowed, each change one version more', async () => {
      const s = await store();
      await s.createMap(info('mapA'));
      expect(await s.createBubble('mapA', bubble('b1', 'ada', 1))).toEqual({ ok: true, bubble: bubble('b1', 'ada', 1), version: 1 });
      const byAda = (b: Bubble) => b.createdBy === 'ada';
      const byBob = (b: Bubble) => b.createdBy === 'bob';
      expect(await s.updateBubble('mapA', 'b1', { text: 'bob was here' }, at(2), byBob)).toEqual({ ok: false, reason: 'forbidden' });
      // Text and numbers come back exactly (Redis re-encodes the bubble in its script).
      const text = 'Bob’s “idea” / \\ \n ü 🎈 <b>';
      expect(await s.updateBubble('mapA', 'b1', { text, x: 9.25, y: undefined }, at(2), byAda)).toEqual({
        ok: true,
        bubble: { ...bubble('b1', 'ada', 1), text, x: 9.25, updatedAt: at(2) },
        version: 2,
      });
      expect((await s.state('mapA'))!.bubbles).toEqual([{ ...bubble('b1', 'ada', 1), text, x: 9.25, updatedAt: at(2) }]);
      expect(await s.deleteBubble('mapA', 'b1', byBob)).toEqual({ ok: false, reason: 'forbidden' });
      expect(await s.updateBubble('mapA', 'nope', { text: 'x' }, at(3), anyone)).toEqual({ ok: false, reason: 'not_found' });
      expect(await s.updateBubble('nomap', 'b1', { text: 'x' }, at(3), anyone)).toEqual({ ok: false, reason: 'no_map' });
      expect((await s.deleteBubble('mapA', 'b1', byAda)).ok).toBe(true);
      expect(await s.state('mapA')).toMatchObject({ bubbles: [], version: 3 });
    });

    it('keeps every field written by concurrent updates of one bubble, and never repeats a version', async () => {
      const s1 = await store();
      const s2 = await maker.twin(s1);
      if (s2 !== s1) open.push(s2);
      await s1.createMap(info('mapA'));
      await s1.createBubble('mapA', bubble('b1'));
      const N = 200;
      const writes = Array.from({ length: N }, (_, i) =>
        (i % 2 ? s1 : s2).updateBubble('mapA', 'b1', i % 2 ? { x: i } : { y: i }, at(i), anyone),
      );
      const results = await Promise.all(writes);
      const versions = results.map((r) => (r.ok ? r.version : -1)).sort((a, b) => a - b);
      expect(versions).toEqual(Array.from({ length: N }, (_, i) => i + 2));
      const last = (await s1.state('mapA'))!;
      expect(last.version).toBe(N + 1);
      // The last writes of each field won, whatever their interleaving: neither undid the other.
      const final = last.bubbles[0]!;
      const xs = results.flatMap((r, i) => (r.ok && i % 2 ? [[r.version, i]] : [])).sort((a, b) => a[0]! - b[0]!);
      const ys = results.flatMap((r, i) => (r.ok && !(i % 2) ? [[r.version, i]] : [])).sort((a, b) => a[0]! - b[0]!);
      expect(final.x).toBe(xs.at(-1)![1]);
      expect(final.y).toBe(ys.at(-1)![1]);
    });
  });
}

contract('memory', {
  make: async (maxBubbles, maxMaps) => new MemoryMapStore(maxBubbles, maxMaps),
  // One process, one memory: the other writer shares the store itself.
  twin: async (store) => store,
});

let admin: Redis | undefined;
const prefix = uniquePrefix();
let run = 0;
beforeAll(() => {
  if (redisReachable) admin = adminRedis();
});
afterAll(async () => {
  if (!admin) return;
  await deleteKeys(admin, prefix);
  await admin.quit();
});
afterEach(() => {
  run++;
});

const prefixes = new WeakMap<MapStore, string>();
/** The contract on Redis at `target`: each test its own prefix; a twin shares it, over a connection of its own. */
function redisContract(name: string, target: () => Promise<RedisTarget>, skip: boolean) {
  const open = async (runPrefix: string, maxBubbles = 500, maxMaps = 100) => {
    const store = new RedisMapStore({ ...(await target()), prefix: runPrefix, connectionName: `${prefix}store`, logger: log, maxBubbles, maxMaps });
    await store.ready();
    prefixes.set(store, runPrefix);
    return store;
  };
  contract(name, { make: (maxBubbles, maxMaps) => open(`${prefix}${run}:`, maxBubbles, maxMaps), twin: (store) => open(prefixes.get(store)!) }, skip);
}

redisContract('redis', async () => ({ url: REDIS_URL }), !redisReachable);
// On a cluster a map's keys share a slot and the index has one of its own: nothing spans two.
const cluster = lazyCluster();
afterAll(() => cluster.stop());
redisContract('redis cluster', async () => ({ clusterNodes: (await cluster.get()).nodes }), !redisClusterUsable);
