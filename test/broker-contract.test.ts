/**
 * One contract for every broker: two broker objects stand for two instances (on one MemoryHub, or
 * on one Redis), and every test runs against each kind. The bus (publish/subscribe by namespace
 * path) and the log (one sequence per path, all-or-nothing sync reads, history pages, gap past
 * what is kept or in another epoch) are one seam: what is published is what is read back.
 */
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../src/log.ts';
import { MemoryBroker, MemoryHub } from '../src/ws/broker/memory.ts';
import { RedisBroker } from '../src/ws/broker/redis.ts';
import type { Broker, LogPolicy } from '../src/ws/broker/types.ts';
import { unwrapEnvelope } from '../src/ws/broker/envelope.ts';
import { adminRedis, deleteKeys, REDIS_URL, redisReachable, uniquePrefix } from './redis.ts';
import { redisClusterUsable } from './support/describe-redis.ts';
import { lazyCluster } from './support/redis-backend.ts';

const cluster = lazyCluster();
afterAll(() => cluster.stop());

interface Kind {
  name: string;
  skip: boolean;
  /** Two connected brokers on one hub or Redis, and a cleanup. */
  pair(): Promise<{ a: Broker; b: Broker; keys(): Promise<string[]>; cleanup(): Promise<void> }>;
}

const logger = createLogger('silent');
const policy: LogPolicy = { size: 3, maxAgeMs: 60_000 };
const body = (n: number) => Buffer.from(JSON.stringify({ type: 't', data: { n } }));
const header = (n: number) => `{"o":"i","n":${n}}`;

const kinds: Kind[] = [
  {
    name: 'MemoryBroker',
    skip: false,
    async pair() {
      const hub = new MemoryHub();
      return { a: new MemoryBroker(hub), b: new MemoryBroker(hub), keys: async () => Array.from({ length: hub.logs }, () => 'log'), cleanup: async () => {} };
    },
  },
  {
    name: 'RedisBroker',
    skip: !redisReachable,
    async pair() {
      const prefix = uniquePrefix();
      const a = new RedisBroker({ url: REDIS_URL, prefix, logger });
      const b = new RedisBroker({ url: REDIS_URL, prefix, logger });
      await Promise.all([a.ready(), b.ready()]);
      const admin = adminRedis();
      return {
        a,
        b,
        keys: () => admin.keys(`${prefix}*`),
        async cleanup() {
          await deleteKeys(admin, prefix);
          await admin.quit();
        },
      };
    },
  },
  {
    name: 'RedisBroker on a Redis Cluster',
    skip: !redisClusterUsable,
    async pair() {
      const backend = await cluster.get();
      const prefix = uniquePrefix();
      const a = new RedisBroker({ clusterNodes: backend.nodes, prefix, logger });
      const b = new RedisBroker({ clusterNodes: backend.nodes, prefix, logger });
      await Promise.all([a.ready(), b.ready()]);
      return {
        a,
        b,
        keys: async () => [...(await backend.keys(prefix)).values()].flat(),
        cleanup: () => backend.deleteKeys(prefix),
      };
    },
  },
];

/** Collects payloads of a path and lets a test await the n-th. */
function collector() {
  const got: Buffer[] = [];
  let wake: (() => void) | undefined;
  return {
    got,
    handler: (payload: Buffer) => {
      got.push(payload);
      wake?.();
    },
    async count(n: number): Promise<Buffer[]> {
      while (got.length < n) await new Promise<void>((resolve) => (wake = resolve));
      return got;
    },
  };
}

const frameOf = (envelope: Buffer) => JSON.parse(unwrapEnvelope(envelope)!.frame.toString());

for (const kind of kinds) {
  describe.skipIf(kind.skip)(`broker contract: ${kind.name}`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const fn of cleanups.splice(0)) await fn();
    });
    const pair = async () => {
      const p = await kind.pair();
      cleanups.push(async () => {
        await Promise.all([p.a.close(), p.b.close()]);
        await p.cleanup();
      });
      return p;
    };

    it('delivers a payload, bytes intact, to every subscriber including the publisher', async () => {
      const { a, b } = await pair();
      const onA = collector();
      const onB = collector();
      await a.subscribe('/x', onA.handler);
      await b.subscribe('/x', onB.handler);
      const payload = Buffer.from([0x7b, 0x0a, 0x00, 0xff, 0xfe, 0x0a, 0x7d]);
      await a.publish('/x', payload);
      expect((await onA.count(1))[0]!.equals(payload)).toBe(true);
      expect((await onB.count(1))[0]!.equals(payload)).toBe(true);
      expect(a.state()).toBe('ok');
    });

    it('sends only subscribed paths, and nothing after unsubscribe', async () => {
      const { a, b } = await pair();
      const x = collector();
      const marker = collector();
      await b.subscribe('/x', x.handler);
      await b.subscribe('/marker', marker.handler);
      await a.publish('/other', Buffer.from('not for b'));
      await a.publish('/x', Buffer.from('one'));
      await x.count(1);
      await b.unsubscribe('/x');
      await b.unsubscribe('/never-subscribed');
      await a.publish('/x', Buffer.from('two'));
      // Messages from one publisher arrive in publish order: once the marker is here, 'two' would be too.
      await a.publish('/marker', Buffer.from('m'));
      await marker.count(1);
      expect(x.got.map(String)).toEqual(['one']);
    });

    it('keeps the publish order of a path, plain and sequenced interleaved', async () => {
      const { a, b } = await pair();
      const got = collector();
      await b.subscribe('/order', got.handler);
      await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          i % 2 ? a.publish('/order', Buffer.from(`{"o":"i"}\n{"type":"p","data":${i}}`)) : a.append('/order', header(i), Buffer.from(`{"type":"s","data":${i}}`), { size: 200, maxAgeMs: 60_000 }),
        ),
      );
      const received = await got.count(200);
      expect(received.map((p) => frameOf(p).data)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    });

    it('has one handler per path: subscribing again replaces it', async () => {
      const { a } = await pair();
      const first = collector();
      const second = collector();
      await a.subscribe('/x', first.handler);
      await a.subscribe('/x', second.handler);
      await a.publish('/x', Buffer.from('p'));
      await second.count(1);
      expect(first.got).toHaveLength(0);
    });

    it('numbers, logs and publishes in one step: what subscribers got is what a sync reads', async () => {
      const { a, b } = await pair();
      const onB = collector();
      await b.subscribe('/p', onB.handler);
      const first = await a.append('/p', header(1), body(1), policy);
      expect(first.seq).toBe(1);
      expect(first.epoch).toMatch(/^[A-Za-z0-9_-]{8,}$/);
      expect(await b.append('/p', header(2), body(2), policy)).toEqual({ seq: 2, epoch: first.epoch });
      expect((await a.append('/q', header(3), body(3), policy)).seq).toBe(1);
      const read = await b.since('/p', 0, first.epoch, policy);
      expect(read.ok).toBe(true);
      const entries = read.ok ? read.entries : [];
      expect(entries.map((e) => e.seq)).toEqual([1, 2]);
      expect(entries.map((e) => frameOf(e.envelope))).toEqual([
        { seq: 1, epoch: first.epoch, type: 't', data: { n: 1 } },
        { seq: 2, epoch: first.epoch, type: 't', data: { n: 2 } },
      ]);
      const published = await onB.count(2);
      expect(entries.map((e) => e.envelope.toString())).toEqual(published.map(String));
      expect(unwrapEnvelope(entries[0]!.envelope)!.header).toMatchObject({ o: 'i', n: 1 });
      expect(entries[0]!.at).toBeGreaterThan(Date.now() - 60_000);
      expect(await a.since('/p', 2, first.epoch, policy)).toEqual({ ok: true, head: { seq: 2, epoch: first.epoch }, entries: [] });
    });

    it('answers gap past what is kept, for another epoch, and for a seq from the future; never a part', async () => {
      const { a } = await pair();
      let epoch = '';
      for (let n = 1; n <= 5; n++) epoch = (await a.append('/p', header(n), body(n), policy)).epoch;
      expect(await a.since('/p', 1, epoch, policy)).toEqual({ ok: false, head: { seq: 5, epoch } });
      const kept = await a.since('/p', 2, epoch, policy);
      expect(kept.ok && kept.entries.map((e) => e.seq)).toEqual([3, 4, 5]);
      expect((await a.since('/p', 5, 'other', policy)).ok).toBe(false);
      expect((await a.since('/p', 9, epoch, policy)).ok).toBe(false);
    });

    it('creates nothing when a head, a sync or a history is read', async () => {
      const { a, keys } = await pair();
      expect(await a.head('/never')).toEqual({ seq: 0, epoch: '' });
      expect(await a.since('/never', 0, '', policy)).toEqual({ ok: true, head: { seq: 0, epoch: '' }, entries: [] });
      expect((await a.since('/never', 3, 'gone', policy)).ok).toBe(false);
      expect(await a.history('/never', { limit: 10 }, policy)).toEqual({ head: { seq: 0, epoch: '' }, entries: [] });
      expect(await keys()).toEqual([]);
    });

    it('serves a client that read an empty head from seq 1 of the epoch begun since, while the log holds it', async () => {
      const { a } = await pair();
      const { epoch } = await a.append('/p', header(1), body(1), policy);
      await a.append('/p', header(2), body(2), policy);
      const read = await a.since('/p', 0, '', policy);
      expect(read.ok && read.entries.map((e) => e.seq)).toEqual([1, 2]);
      expect(read.head).toEqual({ seq: 2, epoch });
      for (let n = 3; n <= 4; n++) await a.append('/p', header(n), body(n), policy);
      expect((await a.since('/p', 0, '', policy)).ok).toBe(false);
    });

    it('pages the history newest first, returned oldest first, with the head of the same read', async () => {
      const { a } = await pair();
      const wide = { size: 10, maxAgeMs: 60_000 };
      let epoch = '';
      for (let n = 1; n <= 7; n++) epoch = (await a.append('/h', header(n), body(n), wide)).epoch;
      const last = await a.history('/h', { limit: 3 }, wide);
      expect(last.head).toEqual({ seq: 7, epoch });
      expect(last.entries.map((e) => [e.seq, frameOf(e.envelope).data.n])).toEqual([[5, 5], [6, 6], [7, 7]]);
      const before = await a.history('/h', { before: 5, limit: 3 }, wide);
      expect(before.entries.map((e) => e.seq)).toEqual([2, 3, 4]);
      expect((await a.history('/h', { before: 2, limit: 3 }, wide)).entries.map((e) => e.seq)).toEqual([1]);
      expect((await a.history('/h', { before: 1, limit: 3 }, wide)).entries).toEqual([]);
    });

    it('rejects every call after close', async () => {
      const { a } = await pair();
      await a.close();
      await expect(a.publish('/x', Buffer.from('p'))).rejects.toThrow();
      await expect(a.subscribe('/x', () => {})).rejects.toThrow();
      await expect(a.append('/x', header(1), body(1), policy)).rejects.toThrow();
      await expect(a.head('/x')).rejects.toThrow();
      await a.close();
    });
  });
}

describe('MemoryHub bounds', () => {
  afterEach(() => vi.restoreAllMocks());

  it('stops replaying and listing broadcasts older than maxAgeMs, keeping the sequence', async () => {
    const broker = new MemoryBroker();
    const now = vi.spyOn(Date, 'now').mockReturnValue(1_000_000);
    const { epoch } = await broker.append('/p', header(1), body(1), policy);
    now.mockReturnValue(1_000_000 + policy.maxAgeMs + 1);
    expect((await broker.since('/p', 0, epoch, policy)).ok).toBe(false);
    expect((await broker.history('/p', { limit: 10 }, policy)).entries).toEqual([]);
    expect(await broker.append('/p', header(2), body(2), policy)).toEqual({ seq: 2, epoch });
    expect((await broker.since('/p', 1, epoch, policy)).ok).toBe(true);
  });

  it('forgets the least recently written logs past maxLogs, and past maxBytes; a forgotten one starts a new epoch', async () => {
    const hub = new MemoryHub({ maxLogs: 2, maxBytes: 4096 });
    const broker = new MemoryBroker(hub);
    const a1 = await broker.append('/a', header(1), body(1), policy);
    await broker.append('/b', header(1), body(1), policy);
    await broker.append('/c', header(1), body(1), policy);
    expect(hub.logs).toBe(2);
    expect(await broker.head('/a')).toEqual({ seq: 0, epoch: '' });
    const again = await broker.append('/a', header(2), body(2), policy);
    expect(again.seq).toBe(1);
    expect(again.epoch).not.toBe(a1.epoch);
    expect((await broker.since('/a', 1, a1.epoch, policy)).ok).toBe(false);

    const big = Buffer.from(JSON.stringify({ type: 't', data: 'x'.repeat(1500) }));
    for (const path of ['/x', '/y', '/z']) await broker.append(path, header(1), big, policy);
    expect(hub.bytes).toBeLessThanOrEqual(4096);
    expect((await broker.head('/z')).seq).toBe(1);
  });
});
