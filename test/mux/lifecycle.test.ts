/** How subscriptions of a multiplexed socket end: with the socket, alone (4410), or all at once (slow consumer, shutdown). */
import type { Socket } from 'node:net';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode } from '../../src/protocol/codes.ts';
import type { Realtime } from '../../src/ws/realtime.ts';
import type { AppEnv } from '../../src/ws/types.ts';
import { onCreate } from '../../src/ws/auth/access.ts';
import { refusalOf } from '../../src/ws/mux/request.ts';
import { MemoryBroker } from '../../src/ws/broker/memory.ts';
import { MAX_HELD } from '../../src/ws/live/replay-gate.ts';
import type { ReplayHead } from '../../src/protocol/frames.ts';
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
      '/api/1/ws/headers/:id',
      // What the route sees of the request: the socket's headers, none of the upgrade's own.
      onCreate((c, ctx) => ({ ...ctx, firstName: JSON.stringify(['host', 'user-agent', 'x-custom', 'upgrade', 'sec-websocket-key', 'connection'].map((h) => c.req.header(h) ?? null)) })),
      rt.namespace({}),
    ),
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

describe('the request a subscribe runs its route with', () => {
  it('carries the socket’s headers (Host, User-Agent, its own) and none of the upgrade’s', async () => {
    const a = await start(new Recorder());
    const mux = await openMux(a, { 'user-agent': 'mux-test/1', 'x-custom': 'yes' });
    const welcome = await subscribe(mux, '/api/1/ws/headers/1');
    expect(JSON.parse(welcome.data.ctx.firstName)).toEqual([new URL(a.url).host, 'mux-test/1', 'yes', null, null, null]);
  });
});

describe('the client IP of a subscription', () => {
  it('is the socket’s, as its upgrade resolved it through trusted proxies', async () => {
    const a = await start(new Recorder(), { limits: { trustProxy: 1 } });
    const mux = await openMux(a, { 'x-forwarded-for': '203.0.113.7' });
    const welcome = await subscribe(mux, '/api/1/ws/rec/1');
    expect(a.rt.registry.get('/api/1/ws/rec/1')!.ctxOf(welcome.data.clientId)!.ip).toBe('203.0.113.7');
  });
});

describe('a subscribe that fails on the server', () => {
  it('ends that subscription with 1011 and the socket serves the next subscribes', async () => {
    const rec = new Recorder();
    const a = await start(rec);
    // An app's registry listener that throws when the namespace is created (its own bug).
    a.rt.registry.on('create', (ns) => {
      if (ns.path === '/api/1/ws/rec/broken') throw new Error('listener bug');
    });
    const mux = await openMux(a);
    mux.send({ type: 'subscribe', data: { path: '/api/1/ws/rec/broken' } });
    mux.send({ type: 'subscribe', data: { path: '/api/1/ws/rec/1' } });
    expect(await takeOf(mux, '/api/1/ws/rec/broken')).toMatchObject({ type: 'unsubscribed', data: { code: 1011 } });
    expect((await takeOf(mux, '/api/1/ws/rec/1')).type).toBe('welcome');
    expect(await requestOn(mux, '/api/1/ws/rec/broken', 'x')).toMatchObject({ type: 'error', data: { code: 'not_subscribed' } });
  });
});

describe('a replay hold that overflows', () => {
  it('ends that subscription alone with 1013 and retryAfter; the socket stays', async () => {
    // A log whose head does not answer until told: the welcome's broadcasts pile up meanwhile.
    let release!: () => void;
    const stalled = new Promise<void>((resolve) => (release = resolve));
    class StalledHead extends MemoryBroker {
      override async head(path: string): Promise<ReplayHead> {
        if (path.includes('Stalled')) await stalled;
        return super.head(path);
      }
    }
    app = await startApp({}, { broker: new StalledHead(), routes: testRoutes });
    const mux = await openMux(app);
    await subscribe(mux, '/api/1/ws/literal');
    // Joined (and its welcome held up) once the namespace is created for it.
    const created = new Promise((resolve) => app!.rt.registry.once('create', resolve));
    mux.send({ type: 'subscribe', data: { path: '/api/1/ws/hello-rooms/Stalled' } });
    await created;
    for (let i = 0; i <= MAX_HELD; i++) await app.rt.broadcast('/api/1/ws/hello-rooms/Stalled', 'n', { i });
    const ended = await takeOf(mux, '/api/1/ws/hello-rooms/Stalled', 'unsubscribed');
    release();
    expect(ended).toEqual({ type: 'unsubscribed', data: { code: 1013, reason: 'too many messages held during a replay', retryAfter: 1 }, path: '/api/1/ws/hello-rooms/Stalled' });
    expect(await requestOn(mux, '/api/1/ws/literal', 'echo', { n: 3 })).toMatchObject({ type: 'ack', path: '/api/1/ws/literal' });
    expect(mux.frames.some((f) => f.type === 'welcome' && f.path === '/api/1/ws/hello-rooms/Stalled')).toBe(false);
  }, 60_000);
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
