import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { drainSockets } from '../../src/ws/safety/drain.ts';

/** A peer that answers a close at once, or never (`stuck`). */
class Peer extends EventEmitter {
  readyState = 1;
  closedWith: number | undefined;
  constructor(readonly stuck = false) {
    super();
  }
  close(code: number) {
    this.closedWith = code;
    this.readyState = 2;
    if (!this.stuck) this.#finish();
  }
  terminate() {
    this.#finish();
  }
  #finish() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    queueMicrotask(() => this.emit('close'));
  }
}

afterEach(() => {
  vi.useRealTimers();
});

describe('drainSockets', () => {
  it('closes with 1012 in batches spread over the window', async () => {
    vi.useFakeTimers();
    const peers = Array.from({ length: 10 }, () => new Peer());
    const done = drainSockets(peers as unknown as WebSocket[], { spreadMs: 500, timeoutMs: 10_000 });
    const closed = () => peers.filter((p) => p.closedWith === 1012).length;
    // 5 batches of 2, one every 100 ms.
    await vi.advanceTimersByTimeAsync(0);
    expect(closed()).toBe(2);
    await vi.advanceTimersByTimeAsync(100);
    expect(closed()).toBe(4);
    await vi.advanceTimersByTimeAsync(300);
    expect(closed()).toBe(10);
    await done;
  });

  it('terminates peers that do not complete the close by the timeout', async () => {
    vi.useFakeTimers();
    const peers = [new Peer(), new Peer(true)];
    let finished = false;
    const done = drainSockets(peers as unknown as WebSocket[], { spreadMs: 0, timeoutMs: 1000 }).then(() => (finished = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(finished).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await done;
    expect(peers.map((p) => p.readyState)).toEqual([3, 3]);
  });
});
