/**
 * Fanout's exactly-once rule at the origin, on an in-memory bus whose broker can claim to be
 * degraded, or fail a publish after carrying it: the cases a real outage produces only by chance.
 */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.ts';
import { RealtimeEvents } from '../src/ws/events.ts';
import { Fanout } from '../src/ws/fanout.ts';
import { MemoryBus, MemoryPubSub } from '../src/ws/pubsub/memory.ts';
import type { PubSubState } from '../src/ws/pubsub/types.ts';

class UnreliablePubSub extends MemoryPubSub {
  reported: PubSubState = 'ok';
  /** Carry the message, then report the publish as failed (reply lost with the connection). */
  failAfterCarrying = false;
  override state(): PubSubState {
    return this.reported;
  }
  override async publish(channel: string, payload: Buffer): Promise<void> {
    await super.publish(channel, payload);
    if (this.failAfterCarrying) throw new Error('connection closed before the reply');
  }
}

async function node(bus: MemoryBus, instanceId: string) {
  const pubsub = new UnreliablePubSub(bus);
  const delivered: string[] = [];
  const controls: string[] = [];
  const fanout = new Fanout({
    instanceId,
    pubsub,
    channelOf: (path) => `ch:${path}`,
    isHosted: () => true,
    isSubscribed: () => true,
    deliver: (_path, frame) => delivered.push(frame.toString()),
    control: (path, command) => controls.push(`${command} ${path}`),
    log: createLogger('silent'),
    events: new RealtimeEvents(),
  });
  await pubsub.subscribe('ch:/a', (payload) => fanout.receive('/a', payload));
  return { pubsub, fanout, delivered, controls };
}

describe('Fanout', () => {
  it('hands a control message to the other instances, never as a frame, and not back to its origin', async () => {
    const bus = new MemoryBus();
    const [a, b] = [await node(bus, 'A'), await node(bus, 'B')];
    await a.fanout.publishControl('/a', 'remove');
    expect(b.controls).toEqual(['remove /a']);
    expect(a.controls).toEqual([]);
    expect([...a.delivered, ...b.delivered]).toEqual([]);
  });

  it('delivers through the bus on every instance, the origin included, once', async () => {
    const bus = new MemoryBus();
    const [a, b] = [await node(bus, 'A'), await node(bus, 'B')];
    await a.fanout.publish('/a', Buffer.from('m1'), {});
    expect(a.delivered).toEqual(['m1']);
    expect(b.delivered).toEqual(['m1']);
    expect(a.fanout.localOnly).toBe(0);
  });

  it('delivers locally at once while degraded, and drops the copy if the bus brings it back', async () => {
    const bus = new MemoryBus();
    const [a, b] = [await node(bus, 'A'), await node(bus, 'B')];
    a.pubsub.reported = 'degraded';
    await a.fanout.publish('/a', Buffer.from('m1'), {});
    expect(a.delivered).toEqual(['m1']);
    expect(b.delivered).toEqual(['m1']);
    expect(a.fanout.localOnly).toBe(1);
  });

  it('does not deliver twice when a publish fails after the bus carried it', async () => {
    const bus = new MemoryBus();
    const [a, b] = [await node(bus, 'A'), await node(bus, 'B')];
    a.pubsub.failAfterCarrying = true;
    await a.fanout.publish('/a', Buffer.from('m1'), {});
    expect(a.delivered).toEqual(['m1']);
    expect(b.delivered).toEqual(['m1']);
  });

  it('delivers locally when a publish fails without being carried', async () => {
    const bus = new MemoryBus();
    const a = await node(bus, 'A');
    await a.pubsub.close();
    await a.fanout.publish('/a', Buffer.from('m1'), {});
    expect(a.delivered).toEqual(['m1']);
    expect(a.fanout.localOnly).toBe(1);
  });
});
