/** The heartbeat's round, spread over its interval, on real sockets. */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { startHeartbeat } from '../../src/ws/safety/heartbeat.ts';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** A `ws` server on an ephemeral port with the heartbeat on it, and the batches of pings it sends. */
async function heartbeatServer(intervalMs: number) {
  const wss = new WebSocketServer({ port: 0 });
  await once(wss, 'listening');
  // Pings sent in one synchronous run (one timer callback) form one batch.
  const batches: number[] = [];
  let open = false;
  wss.on('connection', (socket: WebSocket) => {
    const ping = socket.ping.bind(socket);
    socket.ping = (...args: Parameters<WebSocket['ping']>) => {
      if (!open) {
        open = true;
        batches.push(0);
        queueMicrotask(() => (open = false));
      }
      batches[batches.length - 1]!++;
      ping(...args);
    };
  });
  const stop = startHeartbeat(wss, intervalMs);
  cleanup.push(async () => {
    stop();
    for (const socket of wss.clients) socket.terminate();
    await new Promise((resolve) => wss.close(resolve));
  });
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, batches, wss };
}

/** A client; `autoPong: false` makes a peer that never answers a ping. */
async function peer(url: string, answers = true): Promise<{ socket: WebSocket; pings: () => number; closed: Promise<number> }> {
  const socket = new WebSocket(url, { autoPong: answers } as ConstructorParameters<typeof WebSocket>[2]);
  let pings = 0;
  socket.on('ping', () => pings++);
  const closed = once(socket, 'close').then(([code]) => code as number);
  await once(socket, 'open');
  cleanup.push(() => socket.terminate());
  return { socket, pings: () => pings, closed };
}

/** Resolves once every one of `peers` has been pinged `n` more times. */
function pingedAgain(peers: Array<{ socket: WebSocket }>, n: number): Promise<unknown> {
  return Promise.all(
    peers.map(({ socket }) => new Promise<void>((resolve) => {
      let left = n;
      socket.on('ping', function counted() {
        if (--left === 0) {
          socket.off('ping', counted);
          resolve();
        }
      });
    })),
  );
}

describe('heartbeat', () => {
  it('pings a round in slices, each socket once a round, never all in one callback', async () => {
    const server = await heartbeatServer(500); // 50 slices of 10 ms
    const peers = await Promise.all(Array.from({ length: 200 }, () => peer(server.url)));
    await pingedAgain(peers, 2);
    // 200 sockets over 50 slices: 4 a slice (pinging all at once was one batch of 200).
    expect(Math.max(...server.batches)).toBeLessThanOrEqual(4);
    const perPeer = peers.map((p) => p.pings());
    expect(Math.max(...perPeer) - Math.min(...perPeer)).toBeLessThanOrEqual(1);
  });

  it('terminates a peer that never answers, and keeps the ones that do', async () => {
    const server = await heartbeatServer(200);
    const live = await Promise.all(Array.from({ length: 20 }, () => peer(server.url)));
    const silent = await peer(server.url, false);
    // Pinged once, not answered by its next ping: cut without a close frame.
    expect(await silent.closed).toBe(1006);
    expect(silent.pings()).toBeGreaterThanOrEqual(1);
    // Two more rounds, answered: every live peer is still open.
    await pingedAgain(live, 2);
    expect(live.map((p) => p.socket.readyState)).toEqual(live.map(() => WebSocket.OPEN));
    expect(server.wss.clients.size).toBe(live.length);
  });
});
