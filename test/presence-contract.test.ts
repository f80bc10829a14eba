/**
 * One contract for every presence service: two services stand for two instances (on one
 * MemoryPresenceStore, or on one Redis with a prefix of this run).
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.ts';
import type { Member } from '../src/ws/namespace.ts';
import { MemoryPresence, MemoryPresenceStore } from '../src/ws/presence/memory.ts';
import { RedisPresence } from '../src/ws/presence/redis.ts';
import type { Presence } from '../src/ws/presence/types.ts';
import { adminRedis, deleteKeys, REDIS_URL, redisReachable, uniquePrefix } from './redis.ts';

const logger = createLogger('silent');
const prefix = uniquePrefix();
let admin: Redis | undefined;
beforeAll(() => {
  if (redisReachable) admin = adminRedis();
});
afterAll(async () => {
  if (!admin) return;
  await deleteKeys(admin, prefix);
  await admin.quit();
});

interface Kind {
  name: string;
  skip: boolean;
  pair(): Promise<[Presence, Presence]>;
}

const kinds: Kind[] = [
  {
    name: 'MemoryPresence',
    skip: false,
    async pair() {
      const store = new MemoryPresenceStore();
      return [new MemoryPresence(store), new MemoryPresence(store)];
    },
  },
  {
    name: 'RedisPresence',
    skip: !redisReachable,
    async pair() {
      const make = (instanceId: string) => new RedisPresence({ url: REDIS_URL, prefix, instanceId, logger });
      const pair: [RedisPresence, RedisPresence] = [make(`A${Math.random()}`.replace('.', '')), make(`B${Math.random()}`.replace('.', ''))];
      await Promise.all(pair.map((p) => p.ready()));
      return pair;
    },
  },
];

let n = 0;
const member = (username: string): Member => ({ clientId: `c${++n}`, username, connectedAt: Date.now() });
const names = (members: Member[]) => members.map((m) => m.username).sort();

for (const kind of kinds) {
  describe.skipIf(kind.skip)(`presence contract: ${kind.name}`, () => {
    const open: Presence[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((p) => p.close()));
    });
    const pair = async () => {
      const p = await kind.pair();
      open.push(...p);
      return p;
    };
    const room = () => `/presence-test/${++n}`;

    it('combines the members of every instance', async () => {
      const [a, b] = await pair();
      const path = room();
      const alice = member('alice');
      await a.add(path, alice);
      await b.add(path, member('bob'));
      await b.add(room(), member('elsewhere'));
      const { members, partial } = await a.members(path);
      expect(partial).toBe(false);
      expect(names(members)).toEqual(['alice', 'bob']);
      expect(members.find((m) => m.username === 'alice')).toEqual(alice);
      expect((await b.counts([path, '/nobody'])).get(path)).toBe(2);
      expect((await b.counts([path, '/nobody'])).get('/nobody')).toBe(0);
      expect(await a.paths()).toEqual(expect.arrayContaining([path]));
      expect(a.state()).toBe('ok');
    });

    it('forgets removed members, and all of an instance that closes', async () => {
      const [a, b] = await pair();
      const path = room();
      const bob = member('bob');
      await a.add(path, member('alice'));
      await a.add(path, member('carol'));
      await b.add(path, bob);
      await b.remove(path, bob.clientId);
      await b.remove(path, 'never-there');
      expect(names((await b.members(path)).members)).toEqual(['alice', 'carol']);
      await a.close();
      expect((await b.members(path)).members).toEqual([]);
      expect((await b.counts([path])).get(path)).toBe(0);
    });
  });
}
