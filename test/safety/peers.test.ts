import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode } from '../../src/protocol/codes.ts';
import { startApp, TestClient, type TestApp } from '../helpers.ts';
import { roomUrl } from './helpers.ts';

let app: TestApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** The server side of the next upgrade that carries `x-test: <tag>`. */
function serverSocketOf(app: TestApp, tag: string): () => Socket {
  let found: Socket | undefined;
  app.server.on('upgrade', (req, socket: Socket) => {
    if (req.headers['x-test'] === tag) found = socket;
  });
  return () => {
    if (!found) throw new Error(`no upgrade tagged ${tag}`);
    return found;
  };
}

describe('slow consumers', () => {
  it('cuts off a client that stops reading with 1013, with bounded memory, and never slows the others', async () => {
    const maxBufferedBytes = 64 * 1024;
    app = await startApp({ limits: { maxBufferedBytes } });
    const slowSide = serverSocketOf(app, 'slow');
    const slow = await TestClient.connect(roomUrl(app, 'Berlin'), { 'x-test': 'slow' });
    const good = await TestClient.connect(roomUrl(app, 'Berlin'));
    slow.socket.pause();

    // 32 MiB in all: far more than the kernel's socket buffers and the threshold together.
    const text = 'x'.repeat(16 * 1024);
    const count = 2048;
    let maxQueued = 0;
    for (let i = 0; i < count; i++) {
      await app.rt.broadcast('/api/1/ws/hello-rooms/Berlin', 'chat', { i, text });
      maxQueued = Math.max(maxQueued, slowSide().writableLength);
      // The well-behaved client reads each broadcast as it comes.
      expect((await good.next('chat')).data.i).toBe(i);
    }
    const frameBytes = Buffer.byteLength(JSON.stringify({ type: 'chat', data: { i: count, text } })) + 16;
    expect(maxQueued).toBeGreaterThan(0);
    expect(maxQueued).toBeLessThanOrEqual(maxBufferedBytes + frameBytes);

    slow.socket.resume();
    expect(await slow.closed).toEqual({ code: CloseCode.TRY_AGAIN_LATER, reason: 'slow consumer: too much unread data' });
    expect(slow.frames.filter((f) => f.type === 'chat').length).toBeLessThan(count);
  });
});

describe('heartbeat', () => {
  it('terminates a peer that stops answering pings and runs its disconnect path', async () => {
    app = await startApp({ limits: { pingIntervalMs: 400 } });
    const silent = await TestClient.connect(roomUrl(app, 'Berlin'));
    const watcher = await TestClient.connect(roomUrl(app, 'Berlin'));
    silent.socket.pause();
    // onDisconnect of the room broadcasts `left`: it ran for the silent peer.
    const left = await watcher.next('left', 10_000);
    expect(left.data.clientId).toBe(silent.welcome.data.clientId);
    silent.socket.resume();
    expect((await silent.closed).code).toBe(CloseCode.ABNORMAL);
    // The live peer answered every ping and is still connected.
    expect((await watcher.request('chat', { text: 'still here' })).type).toBe('ack');
  });
});
