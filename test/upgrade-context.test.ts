import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { serve } from '@hono/node-server';
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.ts';
import { Realtime } from '../src/ws/realtime.ts';
import type { AppEnv } from '../src/ws/types.ts';
import { TestClient } from './helpers.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('an open socket', () => {
  const app = new Hono<AppEnv>();
  const rt = new Realtime(app, { logger: createLogger('silent') });
  const contexts: Array<WeakRef<Context>> = [];
  const requests: Array<WeakRef<object>> = [];
  app.get('/ns/:id', async function remember(c, next) {
    contexts.push(new WeakRef(c));
    requests.push(new WeakRef(c.env.incoming));
    await next();
  }, rt.namespace({}));
  let server: Server;
  const ready = new Promise<number>((resolve) => {
    server = serve({ ...rt.serveOptions(), port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => resolve(info.port)) as Server;
    rt.injectWebSocket(server);
  });
  afterAll(async () => {
    await rt.close();
    await new Promise<void>((done) => server.close(() => done()));
  });

  it('does not keep its upgrade request (Hono context, headers) alive', async () => {
    const port = await ready;
    const client = await TestClient.connect(`ws://127.0.0.1:${port}/ns/a`);
    expect(client.welcome.data.path).toBe('/ns/a');
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(contexts).toHaveLength(1);
    expect(contexts[0]!.deref()).toBeUndefined();
    // The adapter keeps its env object for the socket's life; the IncomingMessage it named goes.
    expect(requests[0]!.deref()).toBeUndefined();
    await client.close();
  });
});
