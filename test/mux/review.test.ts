/** Found in review of the multiplexed socket: each case failed before its fix. */
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { onCreate } from '../../src/ws/auth/access.ts';
import type { Realtime } from '../../src/ws/realtime.ts';
import type { AppEnv } from '../../src/ws/types.ts';
import { startApp, type TestApp } from '../helpers.ts';
import { testRoutes } from '../fixtures/test-routes.ts';
import { openMux, subscribe, takeOf } from './helpers.ts';

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
