/**
 * One contract for every broker: two broker objects stand for two instances (on one MemoryBus, or
 * on one Redis), and every test runs against each kind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.ts';
import { MemoryBus, MemoryPubSub } from '../src/ws/pubsub/memory.ts';
import { RedisPubSub } from '../src/ws/pubsub/redis.ts';
import type { PubSub } from '../src/ws/pubsub/types.ts';
import { REDIS_URL, redisReachable, uniquePrefix } from './redis.ts';

interface Kind {
  name: string;
  skip: boolean;
  /** Two connected brokers that share one bus, and a channel prefix for this test. */
  pair(): Promise<{ a: PubSub; b: PubSub; prefix: string }>;
}

const logger = createLogger('silent');
const kinds: Kind[] = [
  {
    name: 'MemoryPubSub',
    skip: false,
    async pair() {
      const bus = new MemoryBus();
      return { a: new MemoryPubSub(bus), b: new MemoryPubSub(bus), prefix: uniquePrefix() };
    },
  },
  {
    name: 'RedisPubSub',
    skip: !redisReachable,
    async pair() {
      const a = new RedisPubSub({ url: REDIS_URL, logger });
      const b = new RedisPubSub({ url: REDIS_URL, logger });
      await Promise.all([a.ready(), b.ready()]);
      return { a, b, prefix: uniquePrefix() };
    },
  },
];

/** Collects payloads of a channel and lets a test await the n-th. */
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

for (const kind of kinds) {
  describe.skipIf(kind.skip)(`pub/sub contract: ${kind.name}`, () => {
    const open: PubSub[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((p) => p.close()));
    });
    const pair = async () => {
      const p = await kind.pair();
      open.push(p.a, p.b);
      return p;
    };

    it('delivers a payload, bytes intact, to every subscriber including the publisher', async () => {
      const { a, b, prefix } = await pair();
      const onA = collector();
      const onB = collector();
      await a.subscribe(`${prefix}x`, onA.handler);
      await b.subscribe(`${prefix}x`, onB.handler);
      const payload = Buffer.from([0x7b, 0x0a, 0x00, 0xff, 0xfe, 0x0a, 0x7d]);
      await a.publish(`${prefix}x`, payload);
      expect((await onA.count(1))[0]!.equals(payload)).toBe(true);
      expect((await onB.count(1))[0]!.equals(payload)).toBe(true);
      expect(a.state()).toBe('ok');
    });

    it('sends only subscribed channels, and nothing after unsubscribe', async () => {
      const { a, b, prefix } = await pair();
      const x = collector();
      const marker = collector();
      await b.subscribe(`${prefix}x`, x.handler);
      await b.subscribe(`${prefix}marker`, marker.handler);
      await a.publish(`${prefix}other`, Buffer.from('not for b'));
      await a.publish(`${prefix}x`, Buffer.from('one'));
      await x.count(1);
      await b.unsubscribe(`${prefix}x`);
      await b.unsubscribe(`${prefix}never-subscribed`);
      await a.publish(`${prefix}x`, Buffer.from('two'));
      // Messages from one publisher arrive in publish order: once the marker is here, 'two' would be too.
      await a.publish(`${prefix}marker`, Buffer.from('m'));
      await marker.count(1);
      expect(x.got.map(String)).toEqual(['one']);
    });

    it('keeps the publish order of a channel', async () => {
      const { a, b, prefix } = await pair();
      const got = collector();
      await b.subscribe(`${prefix}order`, got.handler);
      await Promise.all(Array.from({ length: 200 }, (_, i) => a.publish(`${prefix}order`, Buffer.from(String(i)))));
      const received = await got.count(200);
      expect(received.map(Number)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    });

    it('has one handler per channel: subscribing again replaces it', async () => {
      const { a, prefix } = await pair();
      const first = collector();
      const second = collector();
      await a.subscribe(`${prefix}x`, first.handler);
      await a.subscribe(`${prefix}x`, second.handler);
      await a.publish(`${prefix}x`, Buffer.from('p'));
      await second.count(1);
      expect(first.got).toHaveLength(0);
    });

    it('rejects publish and subscribe after close', async () => {
      const { a, prefix } = await pair();
      await a.close();
      await expect(a.publish(`${prefix}x`, Buffer.from('p'))).rejects.toThrow();
      await expect(a.subscribe(`${prefix}x`, () => {})).rejects.toThrow();
      await a.close();
    });
  });
}
