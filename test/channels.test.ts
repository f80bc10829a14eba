/**
 * NamespaceChannels on an in-memory broker that can be told to refuse subscriptions (the Redis
 * side of the same behaviour is in multi-instance.test.ts).
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { NamespaceChannels } from '../src/ws/hub/channels.ts';
import { createLogger } from '../src/log.ts';
import { MemoryBroker, MemoryHub } from '../src/ws/broker/memory.ts';
import type { PayloadHandler } from '../src/ws/broker/types.ts';

class RefusingBroker extends MemoryBroker {
  refuse = false;
  /** While set, subscribes wait for it. */
  gate: Promise<void> | undefined;
  calls: string[] = [];
  override async subscribe(path: string, handler: PayloadHandler): Promise<void> {
    this.calls.push(`subscribe ${path}`);
    await this.gate;
    if (this.refuse) throw new Error('broker down');
    return super.subscribe(path, handler);
  }
  override async unsubscribe(path: string): Promise<void> {
    this.calls.push(`unsubscribe ${path}`);
    return super.unsubscribe(path);
  }
}

function setup(unsubscribeDelayMs: number) {
  const bus = new MemoryHub();
  const pubsub = new RefusingBroker(bus);
  const hosted = new Set<string>();
  const received: string[] = [];
  const receiver = { receive: (path: string, payload: Buffer) => received.push(`${path} ${payload}`) };
  const channels = new NamespaceChannels(pubsub, hosted, receiver, unsubscribeDelayMs, createLogger('silent'));
  return { bus, pubsub, hosted, received, channels };
}

describe('NamespaceChannels', () => {
  it('rolls back a failed subscribe without rejecting, and subscribes again after a reconnect', async () => {
    const { bus, pubsub, hosted, received, channels } = setup(0);
    hosted.add('/a');
    pubsub.refuse = true;
    const failed = once(channels, 'failed');
    await channels.subscribe('/a');
    await failed;
    expect(channels.isSubscribed('/a')).toBe(false);
    expect(bus.channels()).toEqual([]);

    pubsub.refuse = false;
    channels.resubscribeAll();
    await channels.settled();
    expect(channels.isSubscribed('/a')).toBe(true);
    await pubsub.publish('/a', Buffer.from('hi'));
    expect(received).toEqual(['/a hi']);
  });

  it('keeps the subscription when the namespace comes back before the delay, and re-checks when it ends', async () => {
    const { pubsub, hosted, channels } = setup(30);
    hosted.add('/a');
    await channels.subscribe('/a');
    hosted.delete('/a');
    channels.unsubscribeLater('/a');
    hosted.add('/a');
    await channels.subscribe('/a');
    expect(pubsub.calls).toEqual(['subscribe /a']);

    hosted.delete('/a');
    const unsubscribed = once(channels, 'unsubscribed');
    channels.unsubscribeLater('/a');
    await unsubscribed;
    expect(pubsub.calls).toEqual(['subscribe /a', 'unsubscribe /a']);
    expect(channels.isSubscribed('/a')).toBe(false);
  });

  it('lets a join of a subscribed namespace through at once, but not past a resubscribe still under way', async () => {
    const { pubsub, hosted, channels } = setup(0);
    hosted.add('/a');
    await channels.subscribe('/a');
    await channels.subscribe('/a');
    expect(pubsub.calls).toEqual(['subscribe /a']);

    let open!: () => void;
    pubsub.gate = new Promise((resolve) => (open = resolve));
    channels.resubscribeAll();
    let joined = false;
    const join = channels.subscribe('/a').then(() => (joined = true));
    await new Promise(setImmediate); // a turn of the loop: the resubscribe waits at the gate
    expect(pubsub.calls).toEqual(['subscribe /a', 'subscribe /a']);
    expect(joined).toBe(false);
    open();
    await join;
    expect(channels.isSubscribed('/a')).toBe(true);
  });

  it('does not unsubscribe a namespace that was removed and re-created while the timer ran', async () => {
    const { pubsub, hosted, channels } = setup(0);
    hosted.add('/a');
    await channels.subscribe('/a');
    channels.unsubscribeLater('/a'); // still hosted when the timer fires: the re-check keeps it
    // Timers of equal delay run in the order they were set: this one runs after the release timer.
    await new Promise((resolve) => setTimeout(resolve, 0));
    await channels.settled();
    expect(channels.isSubscribed('/a')).toBe(true);
    expect(pubsub.calls).toEqual(['subscribe /a']);
    channels.close();
  });
});
