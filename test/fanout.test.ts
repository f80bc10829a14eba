/**
 * Fanout's rules at the origin, on an in-memory broker that can claim to be degraded, refuse, or
 * fail a publish after carrying it: the cases a real outage produces only by chance.
 */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.ts';
import { MemoryBroker, MemoryHub } from '../src/ws/broker/memory.ts';
import type { BrokerState, LogPolicy } from '../src/ws/broker/types.ts';
import { RealtimeEvents } from '../src/ws/events.ts';
import { Fanout, MAX_REMEMBERED, type Recipients } from '../src/ws/hub/fanout.ts';

class UnreliableBroker extends MemoryBroker {
  reported: BrokerState = 'ok';
  /** Refuse every publish and append without carrying it. */
  down = false;
  /** Carry the message, then report the publish as failed (reply lost with the connection). */
  failAfterCarrying = false;
  /** Resolve the publish first and carry the message a moment later (another connection's reply). */
  carryLater = false;
  override state(): BrokerState {
    return this.reported;
  }
  override async publish(path: string, payload: Buffer): Promise<void> {
    if (this.down) throw new Error('connection is closed');
    if (this.carryLater) {
      setImmediate(() => void super.publish(path, payload));
      return;
    }
    await super.publish(path, payload);
    if (this.failAfterCarrying) throw new Error('connection closed before the reply');
  }
  override async append(...args: Parameters<MemoryBroker['append']>) {
    if (this.down) throw new Error('connection is closed');
    return super.append(...args);
  }
}

const policy: LogPolicy = { size: 10, maxAgeMs: 60_000 };

async function node(hub: MemoryHub, instanceId: string, options: { subscribed?: boolean } = {}) {
  const broker = new UnreliableBroker(hub);
  const delivered: string[] = [];
  const controls: string[] = [];
  const subscribed = options.subscribed ?? true;
  // This instance's namespaces, as the fanout sees them: one hosted namespace, `/a`.
  const recipients: Recipients = {
    has: () => true,
    isSubscribed: () => subscribed,
    deliver: (_path, frame) => delivered.push(frame.toString()),
    removeEverywhere: (path) => controls.push(`remove ${path}`),
  };
  const fanout = new Fanout(instanceId, broker, recipients, new RealtimeEvents(), createLogger('silent'));
  if (subscribed) await broker.subscribe('/a', (payload) => fanout.receive('/a', payload));
  return { broker, fanout, delivered, controls };
}

describe('Fanout', () => {
  it('hands a control message to the other instances, never as a frame, and not back to its origin', async () => {
    const hub = new MemoryHub();
    const [a, b] = [await node(hub, 'A'), await node(hub, 'B')];
    await a.fanout.publishControl('/a', 'remove');
    expect(b.controls).toEqual(['remove /a']);
    expect(a.controls).toEqual([]);
    expect([...a.delivered, ...b.delivered]).toEqual([]);
  });

  it('delivers through the broker on every instance, the origin included, once', async () => {
    const hub = new MemoryHub();
    const [a, b] = [await node(hub, 'A'), await node(hub, 'B')];
    expect(await a.fanout.publish('/a', Buffer.from('m1'), {}, false)).toBe(true);
    expect(a.delivered).toEqual(['m1']);
    expect(b.delivered).toEqual(['m1']);
    expect(a.fanout.localOnly).toBe(0);
  });

  it('gives a logged broadcast its seq and delivers the sequenced frame everywhere', async () => {
    const hub = new MemoryHub();
    const [a, b] = [await node(hub, 'A'), await node(hub, 'B')];
    const head = await a.fanout.publishSequenced('/a', Buffer.from('{"type":"t","data":1}'), {}, policy);
    expect(head?.seq).toBe(1);
    const frame = `{"seq":1,"epoch":"${head!.epoch}","type":"t","data":1}`;
    expect(a.delivered).toEqual([frame]);
    expect(b.delivered).toEqual([frame]);
  });

  it('refuses a broadcast the broker cannot take: nobody gets it, the caller is told', async () => {
    const hub = new MemoryHub();
    const [a, b] = [await node(hub, 'A'), await node(hub, 'B')];
    a.broker.down = true;
    a.broker.reported = 'degraded';
    expect(await a.fanout.publish('/a', Buffer.from('m1'), {}, false)).toBe(false);
    expect(await a.fanout.publishSequenced('/a', Buffer.from('{"type":"t","data":1}'), {}, policy)).toBeUndefined();
    expect([...a.delivered, ...b.delivered]).toEqual([]);
    expect(a.fanout.refused).toBe(2);
  });

  it('delivers a volatile broadcast to local clients only while the broker is down', async () => {
    const hub = new MemoryHub();
    const [a, b] = [await node(hub, 'A'), await node(hub, 'B')];
    a.broker.reported = 'degraded';
    expect(await a.fanout.publish('/a', Buffer.from('v1'), {}, true)).toBe(true);
    expect(a.delivered).toEqual(['v1']);
    expect(b.delivered).toEqual([]);
    expect(a.fanout.localOnly).toBe(1);
  });

  it('delivers locally, once, when its channel is not subscribed here: after the broker took it', async () => {
    const hub = new MemoryHub();
    const a = await node(hub, 'A', { subscribed: false });
    const b = await node(hub, 'B');
    a.broker.down = true;
    expect(await a.fanout.publish('/a', Buffer.from('m0'), {}, false)).toBe(false);
    expect(a.delivered).toEqual([]);
    a.broker.down = false;
    expect(await a.fanout.publish('/a', Buffer.from('m1'), {}, false)).toBe(true);
    expect(a.delivered).toEqual(['m1']);
    expect(b.delivered).toEqual(['m1']);
  });

  it('delivers once when the copy comes back although the channel was thought unsubscribed', async () => {
    const hub = new MemoryHub();
    const a = await node(hub, 'A', { subscribed: false });
    // Subscribed behind Fanout's back (a SUBSCRIBE that landed while the publish was in flight).
    await a.broker.subscribe('/a', (payload) => a.fanout.receive('/a', payload));
    await a.fanout.publish('/a', Buffer.from('m1'), {}, false);
    expect(a.delivered).toEqual(['m1']);
    a.broker.carryLater = true;
    await a.fanout.publish('/a', Buffer.from('m2'), {}, false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(a.delivered).toEqual(['m1', 'm2']);
  });

  it('tells the caller of a publish whose reply was lost, though the broker carried it', async () => {
    const hub = new MemoryHub();
    const [a, b] = [await node(hub, 'A'), await node(hub, 'B')];
    a.broker.failAfterCarrying = true;
    expect(await a.fanout.publish('/a', Buffer.from('m1'), {}, false)).toBe(false);
    expect(a.delivered).toEqual(['m1']);
    expect(b.delivered).toEqual(['m1']);
  });

  it('remembers at most MAX_REMEMBERED of the messages it delivered itself, however many copies never come back', async () => {
    const hub = new MemoryHub();
    const a = await node(hub, 'A', { subscribed: false });
    for (let i = 0; i < MAX_REMEMBERED + 50; i++) await a.fanout.publish('/a', Buffer.from(`m${i}`), {}, false);
    expect(a.delivered).toHaveLength(MAX_REMEMBERED + 50);
    expect(a.fanout.remembered).toBe(MAX_REMEMBERED);
  });
});
