/**
 * One contract for every presence service: several services stand for several instances (on one
 * MemoryPresenceStore, or on one Redis with a prefix of this run). An instance "dies" by losing
 * its store for good: `store.cut()` in memory, a TCP proxy that drops its Redis connection.
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../src/log.ts';
import { buildCtx, type Ctx } from '../src/ws/ctx.ts';
import type { Member } from '../src/ws/presence/types.ts';
import type { InstancePresence } from '../src/ws/presence/instance.ts';
import { MemoryPresence, MemoryPresenceStore } from '../src/ws/presence/memory.ts';
import { RedisPresence } from '../src/ws/presence/redis.ts';
import type { PresenceEntry, PresenceState } from '../src/ws/presence/types.ts';
import { startProxy, type Proxy } from './proxy.ts';
import { adminRedis, deleteKeys, REDIS_URL, redisReachable, uniquePrefix } from './redis.ts';

const logger = createLogger('silent');
const prefix = uniquePrefix();
/** Short, so that deaths are seen quickly: deadline 300 ms after the last beat, a beat every 100 ms. */
const TTL_MS = 400;
let admin: Redis | undefined;
beforeAll(() => {
  if (redisReachable) admin = adminRedis();
});
afterAll(async () => {
  if (!admin) return;
  await deleteKeys(admin, prefix);
  await admin.quit();
});

/** One instance's presence, and the network between it and the store. */
interface Instance {
  presence: InstancePresence;
  cut(): void;
  restore(): void;
}

interface Kind {
  name: string;
  skip: boolean;
  /** A maker of instances that share one store. */
  world(): (ttlMs?: number) => Promise<Instance>;
}

const open: Array<() => Promise<unknown>> = [];

const kinds: Kind[] = [
  {
    name: 'MemoryPresence',
    skip: false,
    world() {
      const store = new MemoryPresenceStore();
      return async (ttlMs = TTL_MS) => {
        const presence = new MemoryPresence(store, { ttlMs, logger });
        open.push(() => presence.close());
        return { presence, cut: () => store.cut(presence), restore: () => store.restore(presence) };
      };
    },
  },
  {
    name: 'RedisPresence',
    skip: !redisReachable,
    world() {
      return async (ttlMs = TTL_MS) => {
        const proxy: Proxy = await startProxy(REDIS_URL);
        const instanceId = `i${Math.random()}`.replace('.', '');
        const presence = new RedisPresence({ url: proxy.url, prefix, instanceId, ttlMs, logger });
        open.push(() => presence.close().then(() => proxy.close()));
        await presence.ready();
        return { presence, cut: () => proxy.cut(), restore: () => proxy.restore() };
      };
    },
  },
];

let n = 0;
const member = (username: string): Member => ({ clientId: `c${++n}`, username, connectedAt: Date.now() });
const user = (username: string): Ctx => buildCtx({ username, firstName: username, lastName: 'Test', roles: ['member'] }, '10.0.0.1');
const guest = (): Ctx => buildCtx(null, '10.0.0.2');
const names = (members: Member[]) => members.map((m) => m.username).sort();

/** Adds a member (signed in as `username`, or a guest) and returns its entry. */
async function join(instance: Instance, path: string, username?: string): Promise<PresenceEntry> {
  const ctx = username ? user(username) : guest();
  const entry = { member: member(ctx.username), ctx };
  await instance.presence.add(path, entry.member, entry.ctx);
  return entry;
}

/** Every ghost and restored report of `instances`, as `path clientId` strings. */
function reports(instances: Instance[]) {
  const ghosts: string[] = [];
  const restored: string[] = [];
  const ctxs = new Map<string, Ctx>();
  for (const { presence } of instances) {
    presence.onGhosts((path, entries) => {
      for (const e of entries) {
        ghosts.push(`${path} ${e.member.clientId}`);
        ctxs.set(e.member.clientId, e.ctx);
      }
    });
    presence.onRestored((path, entries) => restored.push(...entries.map((e) => `${path} ${e.member.clientId}`)));
  }
  return { ghosts, restored, ctxs };
}

const until = (fn: () => Promise<void> | void) => vi.waitFor(fn, { timeout: 10_000, interval: 20 });

for (const kind of kinds) {
  describe.skipIf(kind.skip)(`presence contract: ${kind.name}`, () => {
    afterEach(async () => {
      await Promise.all(open.splice(0).map((close) => close()));
    });
    const room = () => `/presence-test/${++n}`;

    it('combines the members of every instance', async () => {
      const make = kind.world();
      const [a, b] = await Promise.all([make(), make()]);
      const path = room();
      const alice = await join(a, path, 'alice');
      await join(b, path, 'bob');
      await join(b, room(), 'elsewhere');
      const { members, partial } = await a.presence.members(path);
      expect(partial).toBe(false);
      expect(names(members)).toEqual(['alice', 'bob']);
      expect(members.find((m) => m.username === 'alice')).toEqual(alice.member);
      const counts = await b.presence.counts([path, '/nobody']);
      expect([...counts]).toEqual([
        [path, 2],
        ['/nobody', 0],
      ]);
      expect(await a.presence.paths()).toEqual(expect.arrayContaining([path]));
      expect(a.presence.state()).toBe('ok');
    });

    it('forgets removed members, and all of an instance that closes, without ghosts', async () => {
      const make = kind.world();
      const [a, b] = await Promise.all([make(), make()]);
      const { ghosts } = reports([b]);
      const path = room();
      await join(a, path, 'alice');
      await join(a, path, 'carol');
      const bob = await join(b, path, 'bob');
      await b.presence.remove(path, bob.member.clientId);
      await b.presence.remove(path, 'never-there');
      expect(names((await b.presence.members(path)).members)).toEqual(['alice', 'carol']);
      await join(b, path, 'dave');
      await a.presence.close();
      expect(names((await b.presence.members(path)).members)).toEqual(['dave']);
      expect((await b.presence.counts([path])).get(path)).toBe(1);
      await b.presence.refresh();
      expect(ghosts).toEqual([]);
      await b.presence.close();
      expect(await (await make()).presence.paths()).not.toContain(path);
    });

    it('counts users: a signed-in user once however many connections, each guest connection alone', async () => {
      const make = kind.world();
      const [a, b] = await Promise.all([make(), make()]);
      const path = room();
      await join(a, path, 'alice');
      const tab = await join(b, path, 'alice');
      await join(a, path);
      await join(b, path);
      expect((await a.presence.counts([path])).get(path)).toBe(3);
      expect((await a.presence.members(path)).members).toHaveLength(4);
      await b.presence.remove(path, tab.member.clientId);
      expect((await b.presence.counts([path])).get(path)).toBe(3);
      // Recording a member again (a repair racing an add) is no second connection.
      const again = room();
      const twice = member('(guest)');
      await a.presence.add(again, twice, guest());
      await a.presence.add(again, twice, guest());
      await a.presence.remove(again, twice.clientId);
      expect((await b.presence.counts([again])).get(again)).toBe(0);
    });

    it('drops a dead instance from reads at its deadline, and reports each of its members once, on one survivor', async () => {
      const make = kind.world();
      const [dead, b, c] = await Promise.all([make(), make(), make()]);
      const { ghosts, ctxs } = reports([dead, b, c]);
      const path = room();
      const lost = [await join(dead, path, 'alice'), await join(dead, path), await join(dead, path, 'bob')];
      await join(b, path, 'bob');
      await join(c, path, 'carol');
      expect((await b.presence.counts([path])).get(path)).toBe(4);

      dead.cut();
      // Its members stop counting when its deadline passes, reaped or not yet.
      await until(async () => expect(names((await b.presence.members(path)).members)).toEqual(['bob', 'carol']));
      expect((await c.presence.counts([path])).get(path)).toBe(2);
      // b and c beat on their own timers, racing to reap: one of them gets each ghost.
      await until(() => expect(ghosts).toHaveLength(3));
      for (let i = 0; i < 3; i++) await Promise.all([b.presence.refresh(), c.presence.refresh()]);
      expect(ghosts.sort()).toEqual(lost.map((e) => `${path} ${e.member.clientId}`).sort());
      expect(ctxs.get(lost[0]!.member.clientId)).toEqual(lost[0]!.ctx);
      expect((await b.presence.counts([path])).get(path)).toBe(2);
    });

    it('a path only a dead instance was in is not counted, and is reaped by the next instance to join it', async () => {
      const make = kind.world();
      const [dead, b] = await Promise.all([make(), make()]);
      const { ghosts } = reports([b]);
      const path = room();
      const lost = await join(dead, path, 'alice');
      await join(b, room(), 'elsewhere');
      dead.cut();
      await until(async () => expect((await b.presence.counts([path])).get(path)).toBe(0));
      expect((await b.presence.members(path)).members).toEqual([]);
      await until(async () => expect(await b.presence.paths()).not.toContain(path));
      await b.presence.refresh();
      expect(ghosts).toEqual([]);

      await join(b, path, 'bob');
      await b.presence.refresh();
      expect(ghosts).toEqual([`${path} ${lost.member.clientId}`]);
    });

    it('a connection that replaces another is counted once and the old one is never a ghost', async () => {
      const make = kind.world();
      const [a, b] = await Promise.all([make(), make()]);
      const { ghosts } = reports([b]);
      const path = room();
      const alice = await join(a, path, 'alice');
      const old = await join(a, path);
      const back = { member: member(old.ctx.username), ctx: old.ctx };
      await b.presence.add(path, back.member, back.ctx, { replaces: old.member.clientId });
      expect((await b.presence.counts([path])).get(path)).toBe(2);
      expect((await b.presence.members(path)).members.map((m) => m.clientId).sort()).toEqual([alice.member.clientId, back.member.clientId].sort());

      a.cut();
      await until(() => expect(ghosts).toEqual([`${path} ${alice.member.clientId}`]));
      expect((await b.presence.members(path)).members).toEqual([back.member]);
    });

    it('an instance cut off past its deadline finds its members reaped, and records and reports them again', async () => {
      const make = kind.world();
      const [a, b] = await Promise.all([make(), make()]);
      const { ghosts, restored } = reports([a, b]);
      const path = room();
      const quiet = room();
      const alice = await join(a, path, 'alice');
      const guestA = await join(a, quiet);
      await join(b, path, 'bob');
      await join(b, quiet, 'bob');

      a.cut();
      await until(() => expect(ghosts).toHaveLength(2));
      // Joined while cut off: never seen by others, so not "restored" either.
      const late = await join(a, path, 'late');
      expect(a.presence.state()).toBe('degraded');
      expect((await a.presence.members(path)).partial).toBe(true);

      a.restore();
      await until(() => expect(restored.sort()).toEqual([`${path} ${alice.member.clientId}`, `${quiet} ${guestA.member.clientId}`].sort()));
      expect(names((await b.presence.members(path)).members)).toEqual(['alice', 'bob', 'late']);
      expect((await b.presence.counts([path, quiet]))).toEqual(new Map([[path, 3], [quiet, 2]]));
      await until(() => expect(a.presence.state()).toBe('ok'));
      await Promise.all([a.presence.refresh(), b.presence.refresh()]);
      expect(ghosts).toHaveLength(2);
      expect(restored).toHaveLength(2);
    });

    it('reports its state: degraded while cut off from the store, with local reads; ok once back', async () => {
      const make = kind.world();
      const [a, b] = await Promise.all([make(10_000), make(10_000)]);
      const states: PresenceState[] = [];
      a.presence.onStateChange((s) => states.push(s));
      const path = room();
      await join(a, path, 'alice');
      await join(b, path, 'bob');
      a.cut();
      await until(() => expect(states).toEqual(['degraded']));
      expect(a.presence.state()).toBe('degraded');
      expect(await a.presence.members(path)).toEqual({ members: [expect.objectContaining({ username: 'alice' })], partial: true });
      expect((await a.presence.counts([path])).get(path)).toBe(1);
      expect(await a.presence.paths()).toEqual([path]);
      a.restore();
      await until(() => expect(states).toEqual(['degraded', 'ok']));
      expect(names((await a.presence.members(path)).members)).toEqual(['alice', 'bob']);
    });
  });
}
