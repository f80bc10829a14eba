/**
 * Item 11: the 1013 reaches a slow consumer. A close frame cannot overtake what is queued before
 * it (our queue, then the kernel's buffers), so a slow consumer gets nothing more and its closing
 * handshake is given several close timeouts: a client that keeps reading, slowly, sees 1013, as
 * does the server's disconnect path; one that stopped reading for good is cut all the same.
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode } from '../../src/ws/codes.ts';
import { testRoutes } from '../fixtures/test-routes.ts';
import { startApp, TestClient, type TestApp } from '../helpers.ts';

let app: TestApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** Reads one chunk (at most 64 KiB) of `raw` every `everyMs`: about 8 MB/s at 8 ms. */
function readSlowly(raw: Socket, everyMs: number): void {
  raw.on('data', () => {
    raw.pause();
    setTimeout(() => raw.resume(), everyMs);
  });
  raw.resume();
}

describe('slow consumers (item 11)', () => {
  it('get their 1013 once what was queued for them is read, and the server sees 1013 too', async () => {
    // 4 MiB queued here and the kernel's buffers, read at ~8 MB/s: well over the close timeout
    // of 500 ms the close frame used to have behind them, well within five of them.
    app = await startApp({ limits: { maxBufferedBytes: 4 * 1024 * 1024, closeTimeoutMs: 500 } }, { routes: testRoutes });
    const client = await TestClient.connect(app.wsUrl('/api/1/ws/literal'));
    const raw = (client.socket as unknown as { _socket: Socket })._socket;
    raw.pause();
    let slow = false;
    app.rt.events.on('slowConsumer', () => (slow = true));
    const disconnected = new Promise<number>((resolve) => app!.rt.events.on('disconnect', ({ code }) => resolve(code)));
    const text = 'x'.repeat(256 * 1024);
    for (let i = 0; !slow; i++) {
      expect(i).toBeLessThan(1000);
      await app.rt.broadcast('/api/1/ws/literal', 'blob', { i, text });
    }
    readSlowly(raw, 8);
    expect(await client.closed).toEqual({ code: CloseCode.TRY_AGAIN_LATER, reason: 'slow consumer: too much unread data' });
    expect(await disconnected).toBe(CloseCode.TRY_AGAIN_LATER);
  }, 60_000);

  it('are cut when they stop reading for good', async () => {
    app = await startApp({ limits: { maxBufferedBytes: 64 * 1024, closeTimeoutMs: 300 } }, { routes: testRoutes });
    const client = await TestClient.connect(app.wsUrl('/api/1/ws/literal'));
    client.socket.pause();
    let slow = false;
    app.rt.events.on('slowConsumer', () => (slow = true));
    const disconnected = new Promise<number>((resolve) => app!.rt.events.on('disconnect', ({ code }) => resolve(code)));
    const text = 'x'.repeat(64 * 1024);
    for (let i = 0; !slow; i++) await app.rt.broadcast('/api/1/ws/literal', 'blob', { i, text });
    expect(await disconnected).toBe(CloseCode.ABNORMAL);
    expect(app.rt.stats().clients).toBe(0);
  }, 30_000);
});
