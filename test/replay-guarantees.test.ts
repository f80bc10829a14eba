/**
 * The server side of replay's exactly-once, seen by a raw socket (no client library to hide a
 * duplicate): copies of replayed frames that come off the bus after the sync read are dropped,
 * a client left out of a broadcast is replayed its `skip`, and a hold cannot grow without end.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBroker, MemoryHub } from '../src/ws/broker/memory.ts';
import type { LogPolicy, LogRead } from '../src/ws/broker/types.ts';
import { replayPath, replayRoutes } from './fixtures/replay-routes.ts';
import { startApp, TestClient, type TestApp } from './helpers.ts';

/** A memory broker whose bus deliveries can be held back (a subscriber connection slower than the command one). */
class SlowBusBroker extends MemoryBroker {
  held: Array<() => void> | null = null;
  /** When set, a sync read waits for it (a log that does not answer). */
  readGate: Promise<void> | undefined;
  /** Called when a sync read begins. */
  onRead: (() => void) | undefined;
  override deliver(path: string, payload: Buffer): void {
    if (this.held) this.held.push(() => super.deliver(path, payload));
    else super.deliver(path, payload);
  }
  release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const fn of held) fn();
  }
  override async since(path: string, since: number, epoch: string, policy: LogPolicy): Promise<LogRead> {
    this.onRead?.();
    await this.readGate;
    return super.since(path, since, epoch, policy);
  }
}

let app: TestApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function start(broker: SlowBusBroker): Promise<TestApp> {
  app = await startApp({}, { broker, routes: replayRoutes });
  return app;
}

const said = (c: TestClient) => c.frames.filter((f) => f.type === 'said').map((f) => [f.seq, f.replayed === true]);

describe('replay on the server', () => {
  it('drops the bus copies of frames a sync already replayed, then delivers live ones', async () => {
    const broker = new SlowBusBroker(new MemoryHub());
    const a = await start(broker);
    const c = await TestClient.connect(a.wsUrl(replayPath('dup')));
    const sayer = await TestClient.connect(a.wsUrl(replayPath('dup')));
    broker.held = [];
    for (const n of [1, 2, 3]) expect((await sayer.request('say', { n })).data).toEqual({ ok: true });
    // The log has 1-3; their bus copies have not reached this instance yet.
    c.send({ type: 'sync', data: { since: 0, epoch: '' } });
    expect((await c.next('synced')).data).toMatchObject({ seq: 3 });
    broker.release();
    await sayer.request('say', { n: 4 });
    await c.next('said');
    while (said(c).length < 4) await c.next('said');
    expect(said(c)).toEqual([
      [1, true],
      [2, true],
      [3, true],
      [4, false],
    ]);
  });

  it('replays a skip, not the frame, to the client a broadcast left out', async () => {
    const a = await start(new SlowBusBroker(new MemoryHub()));
    const c = await TestClient.connect(a.wsUrl(replayPath('skip')));
    expect((await c.request('say-to-others', { n: 1 })).data).toEqual({ ok: true });
    c.send({ type: 'sync', data: { since: 0, epoch: '' } });
    await c.next('synced');
    const skips = c.frames.filter((f) => f.type === 'skip');
    expect(skips.map((f) => [f.seq, f.replayed === true])).toEqual([
      [1, false],
      [1, true],
    ]);
    expect(said(c)).toEqual([]);
  });

  it('closes with 1013 a client whose held frames outgrow the bound while its sync waits for the log', async () => {
    const broker = new SlowBusBroker(new MemoryHub());
    const a = await start(broker);
    const c = await TestClient.connect(a.wsUrl(replayPath('held')));
    let open!: () => void;
    broker.readGate = new Promise<void>((resolve) => (open = resolve));
    const reading = new Promise<void>((resolve) => (broker.onRead = resolve));
    c.send({ type: 'sync', data: { since: 0, epoch: '' } });
    await reading;
    // Sent from REST: the bound is 10000 frames held for one client.
    const path = replayPath('held');
    for (let n = 0; n <= 10_000; n++) await a.rt.broadcast(path, 'said', { n });
    expect((await c.closed).code).toBe(1013);
    open();
  });
});
