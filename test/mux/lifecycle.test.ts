/** How subscriptions of a multiplexed socket end: with the socket, alone (4410), or all at once (slow consumer, shutdown). */
import type { Socket } from 'node:net';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode } from '../../src/protocol/codes.ts';
import type { Realtime } from '../../src/ws/realtime.ts';
import type { AppEnv } from '../../src/ws/types.ts';
import { refusalOf } from '../../src/ws/mux/request.ts';
import { startApp, TestClient, type TestApp, type TestConfig } from '../helpers.ts';
import { testRoutes } from '../fixtures/test-routes.ts';
import { openMux, requestOn, subscribe, takeOf } from './helpers.ts';

let app: TestApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

interface Ended {
  path: string;
  clientId: string;
  code: number;
  reason: string;
}

/** The onDisconnect calls of `/api/1/ws/rec/:id`, awaited by count. */
class Recorder {
  readonly ended: Ended[] = [];
  #wake: (() => void) | undefined;

  routes = (rt: Realtime) => [
    ...testRoutes(rt),
    new Hono<AppEnv>().get(
      '/api/1/ws/rec/:id',
      rt.namespace({
        onDisconnect: ({ clientId, code, reason }, ns) => {
          this.ended.push({ path: ns.path, clientId, code, reason });
          this.#wake?.();
        },
      }),
    ),
  ];

  async count(n: number): Promise<Ended[]> {
    while (this.ended.length < n) await new Promise<void>((resolve) => (this.#wake = resolve));
    return this.ended;
  }
}

async function start(recorder: Recorder, overrides: TestConfig = {}): Promise<TestApp> {
  app = await startApp(overrides, { routes: recorder.routes });
  return app;
}

describe('the end of a multiplexed socket', () => {
  it('makes every member leave with the socket’s close code', async () => {
    const rec = new Recorder();
    const a = await start(rec);
    const mux = await openMux(a);
    const one = await subscribe(mux, '/api/1/ws/rec/1');
    const two = await subscribe(mux, '/api/1/ws/rec/2');
    mux.socket.close(4000, 'bye');
    const ended = await rec.count(2);
    expect(ended.map((e) => [e.path, e.clientId, e.code, e.reason]).sort()).toEqual([
      ['/api/1/ws/rec/1', one.data.clientId, 4000, 'bye'],
      ['/api/1/ws/rec/2', two.data.clientId, 4000, 'bye'],
    ]);
    expect(a.rt.stats().clients).toBe(0);
  });

  it('is 1013 for a slow consumer: the whole socket closes and every subscription ends', async () => {
    const rec = new Recorder();
    const a = await start(rec, { limits: { maxBufferedBytes: 1024 * 1024, closeTimeoutMs: 500 } });
    const mux = await openMux(a);
    await subscribe(mux, '/api/1/ws/rec/1');
    await subscribe(mux, '/api/1/ws/literal');
    const raw = (mux.socket as unknown as { _socket: Socket })._socket;
    raw.pause();
    let slow = false;
    a.rt.events.on('slowConsumer', () => (slow = true));
    const text = 'x'.repeat(128 * 1024);
    for (let i = 0; !slow; i++) {
      expect(i).toBeLessThan(1000);
      await a.rt.broadcast('/api/1/ws/literal', 'blob', { i, text });
    }
    raw.resume();
    expect(await mux.closed).toEqual({ code: CloseCode.TRY_AGAIN_LATER, reason: 'slow consumer: too much unread data' });
    expect((await rec.count(1))[0]).toMatchObject({ path: '/api/1/ws/rec/1', code: CloseCode.TRY_AGAIN_LATER });
    expect(a.rt.stats().clients).toBe(0);
  }, 30_000);

  it('is 1012 on shutdown, for the socket and each of its members', async () => {
    const rec = new Recorder();
    const a = await start(rec);
    const mux = await openMux(a);
    await subscribe(mux, '/api/1/ws/rec/1');
    const down = a.rt.shutdown({ spreadMs: 0, timeoutMs: 5000 });
    expect((await mux.closed).code).toBe(CloseCode.SERVICE_RESTART);
    expect((await rec.count(1))[0]!.code).toBe(CloseCode.SERVICE_RESTART);
    await down;
  });

  it('refuses subscribes while draining (1013, retryable)', async () => {
    const rec = new Recorder();
    const a = await start(rec);
    const down = a.rt.shutdown({ spreadMs: 0, timeoutMs: 5000 });
    // What a multiplexed socket's subscribe sends the app, with a marker that must not be handed a member.
    let accepted = false;
    const marker = { accept: () => (accepted = true) };
    const response = await a.app.fetch(new Request(`${a.url}/api/1/ws/rec/1`), { incoming: { socket: { remoteAddress: '127.0.0.1' }, headers: {} }, subscription: marker });
    expect(await refusalOf(response)).toMatchObject({ code: CloseCode.TRY_AGAIN_LATER, retryAfter: expect.any(Number) });
    expect(accepted).toBe(false);
    await down;
  });
});

describe('a namespace removed', () => {
  it('ends that subscription alone with 4410; the socket and its other subscriptions stay', async () => {
    const rec = new Recorder();
    const a = await start(rec);
    const mux = await openMux(a);
    const removed = await subscribe(mux, '/api/1/ws/rec/1');
    await subscribe(mux, '/api/1/ws/literal');
    const direct = await TestClient.connect(a.wsUrl('/api/1/ws/rec/1'));
    expect(a.rt.removeNamespace('/api/1/ws/rec/1', { removeIfEmpty: false })).toBe(true);
    expect(await takeOf(mux, '/api/1/ws/rec/1')).toEqual({ type: 'unsubscribed', data: { code: 4410, reason: 'namespace removed' }, path: '/api/1/ws/rec/1' });
    expect((await direct.closed).code).toBe(4410);
    const ended = await rec.count(2);
    expect(ended.find((e) => e.clientId === removed.data.clientId)).toMatchObject({ code: 4410 });
    expect(await requestOn(mux, '/api/1/ws/literal', 'echo', { n: 1 })).toMatchObject({ type: 'ack', data: { n: 1 }, path: '/api/1/ws/literal' });
    expect(await requestOn(mux, '/api/1/ws/rec/1', 'x')).toMatchObject({ type: 'error', data: { code: 'not_subscribed' } });
    // A subscribe afterwards creates the namespace anew, as a direct connect would.
    expect((await subscribe(mux, '/api/1/ws/rec/1')).type).toBe('welcome');
  });
});
