/** Found in review of the multiplexed socket: each case failed before its fix. */
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { onCreate } from '../../src/ws/auth/access.ts';
import type { Realtime } from '../../src/ws/realtime.ts';
import type { AppEnv } from '../../src/ws/types.ts';
import { startApp, type TestApp } from '../helpers.ts';
import { testRoutes } from '../fixtures/test-routes.ts';
import { openMux, requestOn, subscribe, takeOf } from './helpers.ts';

let app: TestApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('a frame the multiplexed socket cannot parse', () => {
  it('is answered on the path it named, with its id, so the request it was settles', async () => {
    app = await startApp({}, { routes: testRoutes });
    const mux = await openMux(app);
    const path = '/api/1/ws/literal';
    expect((await subscribe(mux, path)).type).toBe('welcome');
    // A type past 64 characters fails the envelope: the error must reach the subscription's request.
    mux.send({ type: 'x'.repeat(65), id: 'long', path });
    expect(await mux.take((f) => f.id === 'long')).toMatchObject({ type: 'error', path, data: { code: 'bad_message' } });
  });
});

describe('a subscribe cancelled while the one before it is pending', () => {
  it('never runs its route: a subscribe-unsubscribe flood costs no route work', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const created: string[] = [];
    const routes = (rt: Realtime) => [
      new Hono<AppEnv>().get(
        '/api/1/ws/slow/:id',
        onCreate(async (_c, ctx) => {
          created.push(ctx.params.id!);
          if (ctx.params.id === 'first') await held;
          return ctx;
        }),
        rt.namespace({}),
      ),
    ];
    app = await startApp({}, { routes });
    const mux = await openMux(app);
    mux.send({ type: 'subscribe', data: { path: '/api/1/ws/slow/first' } });
    // Queued behind the first, then cancelled before its turn: ten of them.
    for (let i = 0; i < 10; i++) {
      mux.send({ type: 'subscribe', data: { path: `/api/1/ws/slow/c${i}` } });
      mux.send({ type: 'unsubscribe', data: { path: `/api/1/ws/slow/c${i}` } });
    }
    // The unsubscribe of a later path is judged after all of the above were read.
    mux.send({ type: 'unsubscribe', data: { path: '/api/1/ws/slow/none' } });
    await takeOf(mux, '/api/1/ws/slow/none', 'error');
    release();
    expect((await takeOf(mux, '/api/1/ws/slow/first')).type).toBe('welcome');
    for (let i = 0; i < 10; i++) {
      expect(await takeOf(mux, `/api/1/ws/slow/c${i}`)).toMatchObject({ type: 'unsubscribed', data: { code: 1000 } });
    }
    expect(created).toEqual(['first']);
  });
});

describe('a subscribe of a path whose route streams its answer', () => {
  it('is refused 4404 and lets go of the stream (an endless response would run for the socket\'s life)', async () => {
    let cancelled!: () => void;
    const released = new Promise<void>((resolve) => (cancelled = resolve));
    const routes = () => [
      new Hono<AppEnv>().get('/api/1/events', (c) => {
        // An event stream that never ends by itself: only the reader's cancel stops it.
        const body = new ReadableStream({ pull: () => new Promise(() => {}), cancel: () => cancelled() });
        return c.body(body, 200, { 'content-type': 'text/event-stream' });
      }),
    ];
    app = await startApp({}, { routes });
    const mux = await openMux(app);
    expect(await subscribe(mux, '/api/1/events')).toMatchObject({ type: 'unsubscribed', data: { code: 4404, reason: 'not a namespace' } });
    await released;
  });
});

describe('a subscribe whose join throws (an app\'s connect listener failing)', () => {
  it('leaves the namespace it was added to: no ghost member, no second copy of each broadcast after subscribing again', async () => {
    app = await startApp({}, { routes: testRoutes });
    const path = '/api/1/ws/literal';
    let broken = true;
    app.rt.events.on('connect', ({ ns }) => {
      if (broken && ns.path === path) throw new Error('listener bug');
    });
    const mux = await openMux(app);
    expect(await subscribe(mux, path)).toMatchObject({ type: 'unsubscribed', data: { code: 1011 } });
    expect(app.rt.registry.get(path)?.size ?? 0).toBe(0);
    broken = false;
    expect((await subscribe(mux, path)).type).toBe('welcome');
    expect(app.rt.registry.get(path)!.size).toBe(1);
    await app.rt.broadcast(path, 'n', { i: 1 });
    expect(await requestOn(mux, path, 'echo', { n: 1 })).toMatchObject({ type: 'ack' });
    expect(mux.frames.filter((f) => f.type === 'n' && f.path === path)).toHaveLength(1);
  });
});

describe('frames past the socket\'s message rate', () => {
  it('end a subscribe as retryable (1013, retryAfter), answer a request on its path, and let an unsubscribe through', async () => {
    app = await startApp({ limits: { messageRate: 0.001, messageBurst: 2, maxRejected: 100 } }, { routes: testRoutes });
    const mux = await openMux(app);
    const paths = ['/api/1/ws/keep/1', '/api/1/ws/keep/2', '/api/1/ws/keep/3'];
    // The burst is two: the third subscribe is over the rate. Before, it got an untagged
    // rate_limited and its subscription waited for an answer that never came.
    for (const path of paths) mux.send({ type: 'subscribe', data: { path } });
    expect((await takeOf(mux, paths[0]!)).type).toBe('welcome');
    expect((await takeOf(mux, paths[1]!)).type).toBe('welcome');
    expect(await takeOf(mux, paths[2]!)).toMatchObject({ type: 'unsubscribed', data: { code: 1013, retryAfter: 1 } });
    // A request on a held path gets its rate_limited with its id, on its path.
    mux.send({ type: 'echo', data: { n: 1 }, id: 'over', path: paths[0] });
    expect(await mux.take((f) => f.id === 'over')).toMatchObject({ type: 'error', path: paths[0], data: { code: 'rate_limited' } });
    // An unsubscribe frees what the socket holds: it is served whatever the rate.
    mux.send({ type: 'unsubscribe', data: { path: paths[1] } });
    expect(await takeOf(mux, paths[1]!)).toMatchObject({ type: 'unsubscribed', data: { code: 1000 } });
    expect(app.rt.registry.get(paths[1]!)!.size).toBe(0);
  });
});

describe('a subscribe refused with a streamed answer', () => {
  it('is refused by its status, and the socket serves the next subscribe (the body is not waited for)', async () => {
    const routes = () => [
      new Hono<AppEnv>().get('/api/1/forbidden-stream', (c) => {
        const body = new ReadableStream({ pull: () => new Promise(() => {}) });
        return c.body(body, 403, { 'content-type': 'text/event-stream' });
      }),
    ];
    app = await startApp({}, { routes: (rt) => [...testRoutes(rt), ...routes()] });
    const mux = await openMux(app);
    expect(await subscribe(mux, '/api/1/forbidden-stream')).toMatchObject({ type: 'unsubscribed', data: { code: 4403 } });
    expect((await subscribe(mux, '/api/1/ws/literal')).type).toBe('welcome');
  });
});
