/**
 * What Redis presence does to Redis: every command (and every command inside a script) stays in
 * one hash slot, so it runs on Redis Cluster unchanged; what a dead or closed instance leaves
 * behind; repairs after a reconnect. The behaviour users see is in presence-contract.test.ts.
 */
import { Redis } from 'ioredis';
import { afterEach, expect, it, vi } from 'vitest';
import { createLogger } from '../src/log.ts';
import { buildCtx } from '../src/ws/ctx.ts';
import type { Member } from '../src/ws/presence/types.ts';
import { RedisPresence } from '../src/ws/presence/redis.ts';
import { startProxy } from './proxy.ts';
import { adminRedis, deleteKeys, describeRedis, REDIS_URL, uniquePrefix } from './redis.ts';

const logger = createLogger('silent');
const TTL_MS = 400;
const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

let n = 0;
const member = (username: string): Member => ({ clientId: `c${++n}`, username, connectedAt: Date.now() });
const ctx = buildCtx(null, '10.0.0.1');
const until = (fn: () => Promise<void> | void) => vi.waitFor(fn, { timeout: 10_000, interval: 20 });

/** The hash tag of a key as Redis Cluster reads it: what decides its slot. */
function tagOf(key: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

async function setup() {
  const prefix = uniquePrefix();
  const admin = adminRedis();
  cleanup.push(async () => {
    await deleteKeys(admin, prefix);
    await admin.quit();
  });
  /** An instance behind a proxy of its own (so it can be cut off from Redis). */
  const instance = async (instanceId: string) => {
    const proxy = await startProxy(REDIS_URL);
    const presence = new RedisPresence({ url: proxy.url, prefix, instanceId, ttlMs: TTL_MS, logger });
    cleanup.push(() => presence.close().then(() => proxy.close()));
    await presence.ready();
    return { presence, proxy };
  };
  return { prefix, admin, instance };
}

describeRedis('Redis presence, as Redis sees it', () => {
  it('keeps every command and every command of its scripts in one hash slot: the path tag, or the list of paths alone', async () => {
    const { prefix, admin, instance } = await setup();
    const seen: Array<{ source: string; args: string[] }> = [];
    const monitor = await admin.monitor();
    const end = `${prefix}monitor-end`;
    let done = false;
    const ended = new Promise<void>((resolve) =>
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (done) return;
        if (args.includes(end)) {
          done = true;
          resolve();
        } else if (args.some((a) => a.includes(prefix))) seen.push({ source, args });
      }),
    );
    cleanup.push(() => monitor.disconnect());

    const [a, b] = await Promise.all([instance('A'), instance('B')]);
    const ghosts: string[] = [];
    const restored: string[] = [];
    a.presence.onGhosts((_p, g) => ghosts.push(...g.map((e) => e.member.clientId)));
    b.presence.onRestored((_p, r) => restored.push(...r.map((e) => e.member.clientId)));
    const path = '/api/1/ws/rooms/Berlin';
    const other = '/api/1/ws/rooms/{odd}path';
    const old = member('(guest)');
    await b.presence.add(path, old, ctx);
    await b.presence.add(other, member('bob'), ctx);
    await a.presence.add(path, member('(guest)'), ctx, { replaces: old.clientId });
    await a.presence.add(path, member('alice'), ctx);
    await a.presence.add(other, member('alice'), ctx);
    const bob = member('bob');
    await b.presence.add(path, bob, ctx);
    await Promise.all([a.presence.members(path), a.presence.counts([path, other]), a.presence.paths(), a.presence.refresh()]);
    b.proxy.cut();
    await until(() => expect(ghosts).toContain(bob.clientId));
    b.proxy.restore();
    // Restored members are those others reported as ghosts: bob in `path` is no more (a took him
    // over as a ghost), yet b still holds him and records him again.
    await until(() => expect(restored).toContain(bob.clientId));
    await a.presence.counts([path]);
    await b.presence.remove(path, bob.clientId);
    await Promise.all([a.presence.close(), b.presence.close()]);
    await admin.get(end);
    await ended;

    const list = `${prefix}presence:paths`;
    const tags = new Set<string>();
    let scripted = 0;
    for (const { source, args } of seen) {
      const keys = (await admin.call('COMMAND', 'GETKEYS', ...args).catch(() => [])) as string[];
      expect(new Set(keys.map(tagOf)).size, `${source}: ${args.join(' ')}`).toBeLessThanOrEqual(1);
      for (const key of keys) {
        if (key === list) expect(keys, `the list of paths goes alone: ${args.join(' ')}`).toEqual([list]);
        else {
          expect(key.startsWith(`${prefix}{`), key).toBe(true);
          tags.add(tagOf(key));
        }
      }
      if (source === 'lua' && keys.some((k) => k.includes(':presence:m:B'))) scripted++;
    }
    // Both paths were used, a tag cut short by a brace in the path is still one tag, and the
    // scripts did name another instance's keys themselves (reaping b from a's side).
    expect([...tags].sort()).toEqual([path, '/api/1/ws/rooms/{odd'].sort());
    expect(scripted).toBeGreaterThan(0);
  });

  it('leaves nothing of a reaped instance, and nothing of a path once every instance closed', async () => {
    const { prefix, admin, instance } = await setup();
    const [a, b] = await Promise.all([instance('A'), instance('B')]);
    const ghosts: string[] = [];
    a.presence.onGhosts((_p, g) => ghosts.push(...g.map((e) => e.member.clientId)));
    const path = '/rooms/left-behind';
    await a.presence.add(path, member('alice'), ctx);
    await b.presence.add(path, member('bob'), ctx);
    b.proxy.cut();
    await until(() => expect(ghosts).toHaveLength(1));
    // The path's keys (the list of paths is pruned by whoever lists next, or expires).
    const keys = async () => (await admin.keys(`${prefix}{*`)).sort();
    expect(await keys()).toEqual(['i', 'm:A', 'r', 'u'].map((k) => `${prefix}{${path}}:presence:${k}`));
    expect(await admin.zrange(`${prefix}{${path}}:presence:i`, '0', '-1')).toEqual(['A']);
    await a.presence.close();
    // What stays is b's tombstone, for b to learn that it was reaped if it comes back; it expires.
    expect(await keys()).toEqual([`${prefix}{${path}}:presence:r`]);
    expect(await admin.pttl(`${prefix}{${path}}:presence:r`)).toBeGreaterThan(0);
    expect(await admin.zrange(`${prefix}presence:paths`, '0', '-1')).not.toContain(`A ${path}`);
  });

  it('rewrites its members after a reconnect: writes lost on the Redis side come back', async () => {
    const { prefix, admin, instance } = await setup();
    const a = await instance('A');
    const path = '/rooms/lossy';
    const [alice, bob] = [member('alice'), member('bob')];
    await a.presence.add(path, alice, ctx);
    await a.presence.add(path, bob, ctx);
    const states: string[] = [];
    a.presence.onStateChange((s) => states.push(s));
    a.proxy.cut();
    await until(() => expect(states).toEqual(['degraded']));
    // What a failover to a replica that missed the last write looks like.
    await admin.hdel(`${prefix}{${path}}:presence:m:A`, bob.clientId);
    a.proxy.restore();
    await until(() => expect(states).toEqual(['degraded', 'ok']));
    await until(async () => expect((await a.presence.members(path)).members.map((m) => m.username).sort()).toEqual(['alice', 'bob']));
    expect((await a.presence.counts([path])).get(path)).toBe(2);
  });

  it('runs on a connection it is given, and leaves it open', async () => {
    const { prefix } = await setup();
    const redis = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    cleanup.push(() => redis.quit());
    await new Promise((resolve) => redis.once('ready', resolve));
    const presence = new RedisPresence({ redis, prefix, instanceId: 'given', ttlMs: TTL_MS, logger });
    await presence.add('/rooms/given', member('alice'), ctx);
    expect((await presence.counts(['/rooms/given'])).get('/rooms/given')).toBe(1);
    await presence.close();
    expect(redis.status).toBe('ready');
    expect(() => new RedisPresence({ prefix, instanceId: 'none', logger })).toThrow(/one of url, clusterNodes or redis/);
  });
});
