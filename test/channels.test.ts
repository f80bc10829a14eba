/**
 * NamespaceChannels on an in-memory broker that can be told to refuse subscriptions (the Redis
 * side of the same behaviour is in multi-instance.test.ts).
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { NamespaceChannels } from '../src/ws/channels.ts';
import { createLogger } from '../src/log.ts';
import { MemoryBus, MemoryPubSub } from '../src/ws/pubsub/memory.ts';
import type { PayloadHandler } from '../src/ws/pubsub/types.ts';

class RefusingPubSub extends MemoryPubSub {
  refuse = false;
  calls: string[] = [];
  override async subscribe(channel: string, handler: PayloadHandler): Promise<void> {
    this.calls.push(`subscribe ${channel}`);
    if (this.refuse) throw new Error('broker down');
    return super.subscribe(channel, handler);
  }
  override async unsubscribe(channel: string): Promise<void> {
    this.calls.push(`unsubscribe ${channel}`);
    return super.unsubscribe(channel);
  }
}

function setup(unsubscribeDelayMs: number) {
  const bus = new MemoryBus();
  const pubsub = new RefusingPubSub(bus);
  const hosted = new Set<string>();
  const received: string[] = [];
  const channels = new NamespaceChannels({
    pubsub,
    channelOf: (path) => `ch:${path}`,
    isHosted: (path) => hosted.has(path),
    onPayload: (path, payload) => received.push(`${path} ${payload}`),
    unsubscribeDelayMs,
    log: createLogger('silent'),
  });
  return { bus, pubsub, hosted, received, channels };
}

describe('NamespaceChannels', () => {
  it('rolls back a failed subscribe without rejecting, and subscribes again after a reconnect', async () => {
    const { bus, pubsub, hosted, received, channels } = setup(0);
    hosted.add('/a');
    pubsub.refuse = true;
    const failed = once(channels, 'failed');
    await channels.want('/a');
    await failed;
    expect(channels.isSubscribed('/a')).toBe(false);
    expect(bus.channels()).toEqual([]);

    pubsub.refuse = false;
    channels.resubscribeAll();
    await channels.settled();
    expect(channels.isSubscribed('/a')).toBe(true);
    await pubsub.publish('ch:/a', Buffer.from('hi'));
    expect(received).toEqual(['/a hi']);
  });

  it('keeps the subscription when the namespace comes back before the delay, and re-checks when it ends', async () => {
    const { pubsub, hosted, channels } = setup(30);
    hosted.add('/a');
    await channels.want('/a');
    hosted.delete('/a');
    channels.release('/a');
    hosted.add('/a');
    await channels.want('/a');
    expect(pubsub.calls).toEqual(['subscribe ch:/a']);

    hosted.delete('/a');
    const unsubscribed = once(channels, 'unsubscribed');
    channels.release('/a');
    await unsubscribed;
    expect(pubsub.calls).toEqual(['subscribe ch:/a', 'unsubscribe ch:/a']);
    expect(channels.isSubscribed('/a')).toBe(false);
  });

  it('does not unsubscribe a namespace that was removed and re-created while the timer ran', async () => {
    const { pubsub, hosted, channels } = setup(0);
    hosted.add('/a');
    await channels.want('/a');
    channels.release('/a'); // still hosted when the timer fires: the re-check keeps it
    // Timers of equal delay run in the order they were set: this one runs after the release timer.
    await new Promise((resolve) => setTimeout(resolve, 0));
    await channels.settled();
    expect(channels.isSubscribed('/a')).toBe(true);
    expect(pubsub.calls).toEqual(['subscribe ch:/a']);
    channels.close();
  });
});
