/**
 * The replay store contract, on memory and on real Redis: one sequence per path, all or nothing
 * reads, gap for what the buffer no longer holds or another epoch; what is published is what is read.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../src/log.ts';
import { unwrapEnvelope } from '../src/ws/envelope.ts';
import { MemoryReplayStore } from '../src/ws/replay/memory.ts';
import { RedisReplayStore } from '../src/ws/replay/redis.ts';
import type { ReplayPolicy, ReplayStore } from '../src/ws/replay/types.ts';
import { adminRedis, deleteKeys, describeRedis, REDIS_URL, uniquePrefix } from './redis.ts';

const policy: ReplayPolicy = { size: 3, maxAgeMs: 60_000 };
const body = (n: number) => Buffer.from(JSON.stringify({ type: 't', data: { n } }));

function contract(name: string, describeFn: typeof describeRedis, make: () => { store: ReplayStore; cleanup(): Promise<void> }) {
  describeFn(`replay store (${name})`, () => {
    let store: ReplayStore;
    let cleanup: () => Promise<void>;
    const published: Buffer[] = [];
    const publish = async (payload: Buffer) => void published.push(payload);
    beforeEach(async () => {
      ({ store, cleanup } = make());
      published.length = 0;
      if (store instanceof RedisReplayStore) await store.ready();
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    it('numbers broadcasts per path, and reads back exactly what it published', async () => {
      const head = await store.head('/p', policy);
      expect(head.seq).toBe(0);
      expect((await store.append('/p', 'ch', '{"o":"i","n":1}', body(1), policy, publish)).seq).toBe(1);
      expect(await store.append('/p', 'ch', '{"o":"i","n":2}', body(2), policy, publish)).toEqual({ seq: 2, epoch: head.epoch });
      expect((await store.append('/q', 'ch', '{"o":"i","n":3}', body(3), policy, publish)).seq).toBe(1);
      const read = await store.since('/p', 0, head.epoch, policy);
      expect(read.ok).toBe(true);
      const frames = read.ok ? read.envelopes.map((e) => JSON.parse(unwrapEnvelope(e)!.frame.toString())) : [];
      expect(frames).toEqual([
        { seq: 1, epoch: head.epoch, type: 't', data: { n: 1 } },
        { seq: 2, epoch: head.epoch, type: 't', data: { n: 2 } },
      ]);
      expect(await store.since('/p', 2, head.epoch, policy)).toEqual({ ok: true, head: { seq: 2, epoch: head.epoch }, envelopes: [] });
      // The memory store publishes through the bus it is given (Redis publishes from its script).
      if (name === 'memory') expect(read.ok && read.envelopes).toEqual(published.slice(0, 2));
    });

    it('answers gap past the buffer, for another epoch, and for a seq from the future; never a part', async () => {
      const { epoch } = await store.head('/p', policy);
      for (let n = 1; n <= 5; n++) await store.append('/p', 'ch', '{"o":"i"}', body(n), policy, publish);
      expect(await store.since('/p', 1, epoch, policy)).toEqual({ ok: false, head: { seq: 5, epoch } });
      const kept = await store.since('/p', 2, epoch, policy);
      expect(kept.ok && kept.envelopes.length).toBe(3);
      expect((await store.since('/p', 5, 'other', policy)).ok).toBe(false);
      expect((await store.since('/p', 9, epoch, policy)).ok).toBe(false);
    });
  });
}

contract('memory', describe, () => ({ store: new MemoryReplayStore(), cleanup: async () => {} }));
contract('redis', describeRedis, () => {
  const prefix = uniquePrefix();
  const store = new RedisReplayStore({ url: REDIS_URL, prefix, logger: createLogger('silent') });
  return {
    store,
    async cleanup() {
      const admin = adminRedis();
      await deleteKeys(admin, prefix);
      await admin.quit();
    },
  };
});

describe('memory replay store', () => {
  afterEach(() => vi.restoreAllMocks());

  it('stops replaying broadcasts older than maxAgeMs, keeping the sequence', async () => {
    const store = new MemoryReplayStore();
    const now = vi.spyOn(Date, 'now').mockReturnValue(1_000_000);
    const { epoch } = await store.head('/p', policy);
    await store.append('/p', 'ch', '{"o":"i"}', body(1), policy, async () => {});
    now.mockReturnValue(1_000_000 + policy.maxAgeMs + 1);
    expect((await store.since('/p', 0, epoch, policy)).ok).toBe(false);
    expect(await store.append('/p', 'ch', '{"o":"i"}', body(2), policy, async () => {})).toEqual({ seq: 2, epoch });
    expect((await store.since('/p', 1, epoch, policy)).ok).toBe(true);
  });

  it('forgets the least recently written path past maxPaths, which then starts a new epoch', async () => {
    const store = new MemoryReplayStore(1);
    const first = await store.head('/a', policy);
    await store.append('/a', 'ch', '{"o":"i"}', body(1), policy, async () => {});
    await store.append('/b', 'ch', '{"o":"i"}', body(1), policy, async () => {});
    const again = await store.head('/a', policy);
    expect(again.seq).toBe(0);
    expect(again.epoch).not.toBe(first.epoch);
    expect((await store.since('/a', 1, first.epoch, policy)).ok).toBe(false);
  });
});
